"""For a schedule (cron, every few minutes): queue again the tasks a dead worker left running."""

from django.core.management.base import BaseCommand

from accounts.tasks import ABANDONED_AFTER, requeue_abandoned_tasks


class Command(BaseCommand):
    help = f"Queue again the background tasks left running longer than {ABANDONED_AFTER} (their worker died)."

    def handle(self, *args, **options):
        requeued = requeue_abandoned_tasks()
        self.stdout.write(f"Queued {requeued} abandoned task{'s' if requeued != 1 else ''} again.")
