"""For a schedule (cron, every few minutes): close runs a dead worker left running."""

from django.core.management.base import BaseCommand

from pickaxes.services import close_stale_runs


class Command(BaseCommand):
    help = "Close runs still running after RUN_STALE_AFTER_SECONDS as failed, refunding those with no output."

    def handle(self, *args, **options):
        closed = close_stale_runs()
        self.stdout.write(f"Closed {closed} stale run{'s' if closed != 1 else ''}.")
