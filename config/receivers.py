"""The Support group, made after every migrate.

It is a project-level thing: it names permissions of every app, so no app's migration
can make it without depending on the apps above it (README, "Layout").
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS

SUPPORT_GROUP = "Support"
# Besides viewing everything: credit grants and deductions (up to STAFF_CREDIT_CEILING a
# time; only superusers go above it).
SUPPORT_CREDIT_ACTIONS = ["grant_credits", "deduct_credits"]


def create_support_group(sender, app_config, using=DEFAULT_DB_ALIAS, apps=global_apps, **kwargs):
    """Give the Support group every view permission and the credit actions (adding, never
    removing: what staff added to the group by hand stays).

    post_migrate is sent once per app; the receiver makes the sending app's permissions
    first (Django's own receiver may run after this one) and so, after the last app, the
    group holds every app's. After a flush (tests) Django sends it without `apps`.
    """
    create_permissions(app_config, verbosity=0, using=using, apps=apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    support, _ = Group.objects.using(using).get_or_create(name=SUPPORT_GROUP)
    support.permissions.add(
        *Permission.objects.using(using).filter(codename__startswith="view_"),
        *Permission.objects.using(using).filter(content_type__app_label="credits", codename__in=SUPPORT_CREDIT_ACTIONS),
    )
