from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pickaxes", "0009_run_source_api"),
    ]

    operations = [
        migrations.AddField(
            model_name="pickaxe",
            name="runs_counted_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
