from django import forms

from credits.selectors import DEFAULT_ALERT_PERCENT


class LowBalanceAlertForm(forms.Form):
    """The user's low-balance alert: the default share of the allowance, a number of their
    own, or off."""

    when = forms.ChoiceField(
        choices=[("default", "default"), ("own", "own"), ("off", "off")],
        widget=forms.RadioSelect,
        label="Alert me",
    )
    threshold = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=100_000,
        label="Credits",
        widget=forms.NumberInput(attrs={"min": 1, "aria-label": "Alert below this many credits"}),
    )

    def __init__(self, *args, alert_settings, **kwargs):
        self.alert_settings = alert_settings
        initial = {
            "when": "off" if not alert_settings.on else ("own" if alert_settings.custom is not None else "default"),
            "threshold": alert_settings.custom or alert_settings.default or None,
        }
        super().__init__(*args, initial=initial, **kwargs)
        self.fields["when"].choices = [
            ("default", f"Below {DEFAULT_ALERT_PERCENT} % of my allowance (now {alert_settings.default} credits)"),
            ("own", "Below a number of my own:"),
            ("off", "Off: no email, no banner"),
        ]

    def clean(self):
        data = super().clean()
        if data.get("when") == "own" and data.get("threshold") is None and "threshold" not in self.errors:
            self.add_error("threshold", "Enter the number of credits below which you want the alert.")
        return data

    def choice(self):
        """(on, threshold) for credits.services.set_low_balance_alert."""
        when = self.cleaned_data["when"]
        return when != "off", self.cleaned_data["threshold"] if when == "own" else None
