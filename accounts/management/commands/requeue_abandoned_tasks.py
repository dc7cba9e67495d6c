"""For a schedule (cron, every few minutes): queue again the tasks a dead worker left running."""

from django.core.management.base import BaseCommand

from accounts.tasks import requeue_abandoned_tasks


class Command(BaseCommand):
    help = "Queue again the background tasks left running past TASKS_ABANDONED_AFTER_SECONDS (their worker died)."

    def handle(self, *args, **options):
        requeued = requeue_abandoned_tasks()
        self.stdout.write(f"Queued {requeued} abandoned task{'s' if requeued != 1 else ''} again.")
