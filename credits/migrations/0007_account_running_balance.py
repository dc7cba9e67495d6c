"""The running balance on the account row replaces the credits_spend() function.

Adds CreditAccount.balance and counted_until, fills them from each account's entries
(the sum of the entries live now, and the earliest expiry among them), and drops the
plpgsql credits_spend(): spend() is one Python implementation on every database.
Reversing recreates the function as migration 0006 left it.
"""

from importlib import import_module

from django.db import migrations, models
from django.db.models import Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

SPEND_FUNCTION = import_module("credits.migrations.0006_spend_function_reads_the_hint").UP
DROP_SPEND_FUNCTION = "DROP FUNCTION IF EXISTS credits_spend(bigint, varchar, timestamptz, timestamptz, varchar);"


def fill_running_balances(apps, schema_editor):
    CreditAccount = apps.get_model("credits", "CreditAccount")
    Entry = apps.get_model("credits", "Entry")
    now = timezone.now()
    live = Entry.objects.filter(account_id=OuterRef("pk")).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    per_account = live.order_by().values("account_id")
    CreditAccount.objects.update(
        balance=Coalesce(Subquery(per_account.annotate(total=Sum("amount")).values("total")), 0),
        counted_until=Subquery(per_account.annotate(first=Min("expires_at")).values("first")),
    )


def drop_spend_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SPEND_FUNCTION, params=None)


def recreate_spend_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SPEND_FUNCTION, params=None)


class Migration(migrations.Migration):
    dependencies = [("credits", "0006_spend_function_reads_the_hint")]

    operations = [
        migrations.AddField(
            model_name="creditaccount",
            name="balance",
            field=models.IntegerField(default=0),
        ),
        migrations.AddField(
            model_name="creditaccount",
            name="counted_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(fill_running_balances, migrations.RunPython.noop),
        migrations.RunPython(drop_spend_function, recreate_spend_function),
    ]
