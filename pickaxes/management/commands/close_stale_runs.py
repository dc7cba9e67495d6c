"""For a schedule (cron, every minute or few): close runs a dead process left running, and
bring the pickaxes' counts of runs up to date."""

from django.core.management.base import BaseCommand

from pickaxes import tasks
from pickaxes.services import close_stale_runs, count_runs


class Command(BaseCommand):
    help = (
        "Close runs whose lease has lapsed (their process died) as failed, refunding those with no output; "
        "then bring the pickaxes' counts of runs up to date."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="Queue both for a worker (manage.py db_worker) instead of running them here.",
        )

    def handle(self, *args, enqueue=False, **options):
        if enqueue:
            tasks.close_stale_runs.enqueue()
            tasks.count_runs.enqueue()
            self.stdout.write("Queued the stale-run sweep and the runs count.")
            return
        closed = close_stale_runs()
        counted = count_runs()
        self.stdout.write(f"Closed {closed} stale run{'s' if closed != 1 else ''}; counted the runs of {counted}.")
