"""Creates the demo creator account that `make run` prints how to sign in with."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-pickaxe-2026"


class Command(BaseCommand):
    help = "Create the demo creator account (idempotent)."

    def handle(self, *args, **options):
        User = get_user_model()
        user, created = User.objects.get_or_create(email=DEMO_EMAIL, defaults={"name": "Demo Creator"})
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        self.stdout.write(
            self.style.SUCCESS(
                f"\nDemo data ready. Open http://127.0.0.1:8000/ and log in as "
                f"{DEMO_EMAIL} / {DEMO_PASSWORD}, or sign up with your own email.\n"
            )
        )
