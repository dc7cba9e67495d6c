"""System checks of the project's own settings, shown by every management command."""

from django.conf import settings
from django.core.checks import Warning, register


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
