"""System checks of the project's own settings, shown by every management command."""

from django.conf import settings
from django.core import mail
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured


@register()
def debug_is_set(app_configs, **kwargs):
    """A deploy that forgot DEBUG=false runs in development mode: say so loudly."""
    if settings.DEBUG and settings.DEBUG_BY_DEFAULT:
        return [
            Warning(
                "DEBUG is not set, so the site runs in development mode: with a development "
                "SECRET_KEY, the offline demo model and encryption keys derived from the key.",
                hint="Set DEBUG=false in production (or DEBUG=true to say that this is development).",
                id="config.W001",
            )
        ]
    return []


@register()
def default_mailer_can_be_made(app_configs, **kwargs):
    """Every email goes through the default mailer, and Django makes it at each send: one
    that cannot be made (a filemail:// folder that cannot be written) must stop the worker
    and every other command at start, not fail each email's retries for hours."""
    try:
        mail.mailers[mail.DEFAULT_MAILER_ALIAS]  # made as at each send
    except ImproperlyConfigured as error:  # InvalidMailer is one
        return [
            Error(
                f"Emails cannot be sent: {error}",
                hint="Fix EMAIL_URL (see the README's Settings).",
                id="config.E001",
            )
        ]
    return []
