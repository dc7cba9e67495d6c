"""Re-encrypt stored secrets with the newest FIELD_ENCRYPTION_KEYS key.

Rotation: put a new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it),
deploy, run this command, then remove the old keys.
"""

from django.core.management.base import BaseCommand

from accounts import crypto, services


class Command(BaseCommand):
    help = "Re-encrypt every stored own API key with the first key in FIELD_ENCRYPTION_KEYS."

    def add_arguments(self, parser):
        parser.add_argument("--new-key", action="store_true", help="only print a fresh key to put first")

    def handle(self, *args, **options):
        if options["new_key"]:
            self.stdout.write(crypto.new_key())
            return
        count = services.rotate_encryption()
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count} key{'s' if count != 1 else ''}."))
