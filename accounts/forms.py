from django import forms


class OwnApiKeyForm(forms.Form):
    key = forms.RegexField(
        label="Your OpenAI API key",
        regex=r"^sk-[A-Za-z0-9_\-]{16,200}$",
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "placeholder": "sk-…"}),
        error_messages={"invalid": "That does not look like an OpenAI API key (they start with sk-)."},
        strip=True,
    )
