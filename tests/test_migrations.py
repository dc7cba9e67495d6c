"""Every change to the models has its migration (a validator changed in code and not in a
migration went unnoticed once)."""

from io import StringIO

from django.core.management import call_command


def test_every_model_change_has_its_migration(db):
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
