"""Entry.cause and Entry.cause_ref: what wrote an entry (a run, a Stripe event, staff…).

No backfill: entries are append-only (on PostgreSQL a trigger refuses UPDATE), so the
entries written before this migration keep an empty cause. The database default lets
SQL writers insert entries without naming the new columns.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("credits", "0007_account_running_balance")]

    operations = [
        migrations.AddField(
            model_name="entry",
            name="cause",
            field=models.CharField(
                blank=True,
                choices=[
                    ("signup", "sign-up (the Free allowance)"),
                    ("run", "a run"),
                    ("stripe_event", "a Stripe event"),
                    ("plan", "a plan change outside Stripe's webhooks"),
                    ("staff", "a staff action"),
                ],
                db_default="",
                default="",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="entry",
            name="cause_ref",
            field=models.CharField(
                blank=True,
                db_default="",
                default="",
                help_text="The id of what caused the entry (the run, the Stripe event), when it has one.",
                max_length=255,
            ),
        ),
    ]
