import re
from datetime import datetime, time, timedelta

from django import forms
from django.conf import settings
from django.utils import timezone

from accounts.validators import single_line
from embeds.models import Embed
from pickaxes.models import Pickaxe

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


class AllowHostForm(forms.Form):
    """One website to add to the embed's allowed domains (from its refused hosts)."""

    host = forms.CharField(max_length=253)

    def clean_host(self):
        host = self.cleaned_data["host"].strip().lower()
        if not DOMAIN.match(host):
            raise forms.ValidationError("Not a domain name.")
        return host


class ApiKeyForm(forms.Form):
    """A new API key: its name, expiry, which of the owner's pickaxes, and its limits."""

    name = forms.CharField(max_length=80, validators=[single_line], help_text="For you: where the key is used.")
    expires_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty: the key works until you revoke it.",
    )
    pickaxes = forms.ModelMultipleChoiceField(
        queryset=Pickaxe.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Only these of my pickaxes",
        help_text="None ticked: any pickaxe you may run on the site (public, unlisted, or yours).",
    )
    runs_per_minute = forms.IntegerField(min_value=0, max_value=10_000, help_text="0 = no limit.")
    runs_per_end_user = forms.IntegerField(
        min_value=0, max_value=1_000_000, initial=0, label="Runs per end user", help_text="0 = no limit."
    )
    end_user_period = forms.ChoiceField(choices=Embed.Period.choices, initial=Embed.Period.DAY, label="Counted")
    budget_per_30_days = forms.IntegerField(
        min_value=0, max_value=1_000_000, initial=0, label="Budget per 30 days", help_text="Credits; 0 = no limit."
    )

    def __init__(self, *args, owner, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pickaxes"].queryset = Pickaxe.objects.filter(owner=owner).order_by("name")
        self.fields["runs_per_minute"].initial = settings.EMBED_OWNER_RUNS_PER_MINUTE

    def clean_expires_on(self):
        day = self.cleaned_data["expires_on"]
        if day and day <= timezone.localdate():
            raise forms.ValidationError("Choose a day after today.")
        return day

    def expires_at(self):
        """The end of the chosen day (local time), or None."""
        day = self.cleaned_data["expires_on"]
        if not day:
            return None
        return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))
