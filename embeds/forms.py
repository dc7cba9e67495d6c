import re

from django import forms

from embeds.models import Embed

DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


class EmbedSettingsForm(forms.ModelForm):
    class Meta:
        model = Embed
        fields = ["enabled", "runs_per_visitor", "period", "allowed_domains", "theme", "height", "runs_per_ip_per_day"]
        widgets = {
            "runs_per_visitor": forms.NumberInput(
                attrs={"type": "range", "min": 0, "max": 100, "step": 1, "data-slider": ""}
            ),
            "allowed_domains": forms.Textarea(attrs={"rows": 3, "placeholder": "example.com\nblog.example.org"}),
            "height": forms.NumberInput(attrs={"min": 200, "max": 2000}),
        }
        labels = {"runs_per_visitor": "Prompt runs per user", "runs_per_ip_per_day": "Runs per address a day"}

    def clean_runs_per_visitor(self):
        value = self.cleaned_data["runs_per_visitor"]
        if value > 100:
            raise forms.ValidationError("At most 100 (0 means no limit).")
        return value

    def clean_height(self):
        value = self.cleaned_data["height"]
        if not 200 <= value <= 2000:
            raise forms.ValidationError("Choose a height between 200 and 2000 pixels.")
        return value

    def clean_allowed_domains(self):
        domains = []
        for line in self.cleaned_data["allowed_domains"].splitlines():
            entry = line.strip().lower()
            if not entry:
                continue
            entry = re.sub(r"^https?://", "", entry).split("/")[0].split(":")[0]
            if not DOMAIN.match(entry):
                raise forms.ValidationError(
                    f"“{line.strip()}” is not a domain name (write example.com, without paths)."
                )
            domains.append(entry)
        return "\n".join(dict.fromkeys(domains))
