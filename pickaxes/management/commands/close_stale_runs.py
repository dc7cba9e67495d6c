"""For a schedule (cron, every minute or few): close runs a dead process left running."""

from django.core.management.base import BaseCommand

from pickaxes import tasks
from pickaxes.services import close_stale_runs


class Command(BaseCommand):
    help = "Close runs whose lease has lapsed (their process died) as failed, refunding those with no output."

    def add_arguments(self, parser):
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="Queue the sweep for a worker (manage.py db_worker) instead of running it here.",
        )

    def handle(self, *args, enqueue=False, **options):
        if enqueue:
            tasks.close_stale_runs.enqueue()
            self.stdout.write("Queued the stale-run sweep.")
            return
        closed = close_stale_runs()
        self.stdout.write(f"Closed {closed} stale run{'s' if closed != 1 else ''}.")
