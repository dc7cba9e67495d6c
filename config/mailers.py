"""EMAIL_URL → the default mailer (Django's MAILERS setting), for every scheme django-environ
reads. Imported by the settings, so nothing here reads them.

Each of Django's email backends takes its own options and refuses any other when it is
made, which is at each send: a URL read as SMTP for every scheme started the site, then
failed every email. Here each scheme gets its backend's options, and what no backend can
use stops the start with the reason (never with the URL, which may hold a password).
"""

import environ
from django.core.exceptions import ImproperlyConfigured

SMTP_SCHEMES = {"smtp", "smtps", "smtp+tls", "smtp+ssl"}


def mailer_from_url(url, *, timeout):
    """The MAILERS entry for `url`; `timeout` (seconds) bounds each SMTP conversation."""
    scheme = url.partition("://")[0] if "://" in url else ""
    if scheme not in environ.Env.EMAIL_SCHEMES:
        raise ImproperlyConfigured(
            f"EMAIL_URL must start with one of {', '.join(s + '://' for s in environ.Env.EMAIL_SCHEMES)}"
            f" (it starts with {scheme + '://' if scheme else 'no scheme'})."
        )
    if "?" in url:
        raise ImproperlyConfigured(
            "EMAIL_URL takes no query (?…): say TLS with the scheme, smtp+tls:// (STARTTLS) or smtp+ssl://."
        )
    parsed = environ.Env.email_url_config(url)
    backend = parsed["EMAIL_BACKEND"]
    if scheme in SMTP_SCHEMES:
        if not parsed["EMAIL_HOST"]:
            raise ImproperlyConfigured(f"EMAIL_URL {scheme}:// needs a mail server: {scheme}://user:password@host:port")
        options = {
            "host": parsed["EMAIL_HOST"],
            "port": parsed["EMAIL_PORT"],  # None: 25, 587 with TLS, 465 with SSL
            "username": parsed["EMAIL_HOST_USER"],
            "password": parsed["EMAIL_HOST_PASSWORD"],
            "use_tls": parsed.get("EMAIL_USE_TLS", False),
            "use_ssl": parsed.get("EMAIL_USE_SSL", False),
            "timeout": timeout,
        }
    elif scheme == "filemail":
        # As in django-environ's database URLs: filemail:///mail is ./mail,
        # filemail:////var/mail/pickaxe is /var/mail/pickaxe.
        if not parsed["EMAIL_FILE_PATH"]:
            raise ImproperlyConfigured(
                "EMAIL_URL filemail:// needs a folder to write emails in: filemail:////var/mail/pickaxe"
            )
        options = {"file_path": parsed["EMAIL_FILE_PATH"]}
    else:  # consolemail, memorymail, dummymail: their backends take no options
        options = {}
    return {"BACKEND": backend, "OPTIONS": options}
