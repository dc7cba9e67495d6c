"""For a schedule (cron, every minute or few): close runs a dead process left running."""

from django.core.management.base import BaseCommand

from pickaxes.services import close_stale_runs


class Command(BaseCommand):
    help = "Close runs whose lease has lapsed (their process died) as failed, refunding those with no output."

    def handle(self, *args, **options):
        closed = close_stale_runs()
        self.stdout.write(f"Closed {closed} stale run{'s' if closed != 1 else ''}.")
