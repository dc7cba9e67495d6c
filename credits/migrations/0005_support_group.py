"""Empty: the Support group is now made after every migrate by config/receivers.py."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("credits", "0004_alter_entry_options")]

    operations = []
