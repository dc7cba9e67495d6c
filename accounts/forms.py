from allauth.account import forms as allauth_forms
from allauth.account.adapter import get_adapter
from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm


class OwnApiKeyForm(forms.Form):
    key = forms.RegexField(
        label="Your OpenAI API key",
        regex=r"^sk-[A-Za-z0-9_\-]{16,200}$",
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "placeholder": "sk-…"}),
        error_messages={"invalid": "That does not look like an OpenAI API key (they start with sk-)."},
        strip=True,
    )


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's login form, checked by allauth like every other login: failed attempts
    count in allauth's `login_failed` limit (per address and per email), so an account
    locked out on /accounts/login/ is locked out on /admin/login/ too, and the other way."""

    def clean(self):
        email, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if email is not None and password:
            # Raises allauth's "too many failed login attempts" while the limit holds.
            self.user_cache = get_adapter(self.request).authenticate(self.request, email=email, password=password)
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class LoginForm(allauth_forms.LoginForm):
    """allauth's login form in the site's words."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "remember" in self.fields:
            self.fields["remember"].label = "Keep me logged in on this device"
