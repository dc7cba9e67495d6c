"""The "Support" group: may view everything in the admin, and grant or deduct credits
(up to STAFF_CREDIT_CEILING a time; only superusers go above it)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CREDIT_ACTIONS = ["grant_credits", "deduct_credits"]


def create_support_group(apps, schema_editor):
    # Permissions are normally made after all migrations; make them now to use them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    support, _ = Group.objects.get_or_create(name="Support")
    support.permissions.add(
        *Permission.objects.filter(codename__startswith="view_"),
        *Permission.objects.filter(content_type__app_label="credits", codename__in=CREDIT_ACTIONS),
    )


def remove_support_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Support").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("accounts", "0002_user_plan_ownapikey"),
        ("billing", "0001_initial"),
        ("credits", "0004_alter_entry_options"),
        ("embeds", "0001_initial"),
        ("pickaxes", "0003_run_visitor_id_run_visitor_ip_and_more"),
    ]

    operations = [migrations.RunPython(create_support_group, remove_support_group)]
