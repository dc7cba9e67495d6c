"""The project's admin, installed in place of "django.contrib.admin" (Django's documented
way to override the default admin site)."""

from allauth.account.apps import AccountConfig
from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate


class ProjectAdminConfig(AdminConfig):
    default_site = "config.admin.ProjectAdminSite"

    def ready(self):
        # config.admin first: it defines the site class before it imports the apps' admin
        # modules, which register on that site (see the note in config/admin.py).
        from config import admin, checks, receivers  # noqa: F401

        super().ready()  # autodiscover: the remaining admin modules (auth, allauth)
        post_migrate.connect(receivers.create_support_group, dispatch_uid="config.create_support_group")


class SignInEmailsConfig(AccountConfig):
    """allauth's account app under a name of its own: its verbose name is "Accounts", the
    same as ours, so the admin index showed two sections called ACCOUNTS."""

    verbose_name = "Sign-in email addresses"
