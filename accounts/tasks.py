"""Background tasks (django.tasks) of accounts: sending the emails users get; and what
every app's tasks rely on (accounts sits below every other app, so each may import it):
the retry with backoff, and the requeue of tasks whose worker died."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.tasks import TaskResultStatus, task
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts import services

log = logging.getLogger(__name__)

# A failed attempt is tried again after 30 s, then 1, 2, 4 … minutes, at most an hour
# apart; after MAX_ATTEMPTS (about 8 hours in all) the task stays failed in the queue's
# table, where staff see its error in the admin.
FIRST_RETRY_AFTER = timedelta(seconds=30)
LONGEST_RETRY_AFTER = timedelta(hours=1)
MAX_ATTEMPTS = 14


def abandoned_after():
    """Longer than any of our tasks runs (a send times out after EMAIL_TIMEOUT_SECONDS, a
    Stripe read after the SDK's timeouts and retries): a task "running" for longer lost its
    worker (TASKS_ABANDONED_AFTER_SECONDS, default 10 minutes)."""
    return timedelta(seconds=settings.TASKS_ABANDONED_AFTER_SECONDS)


def retry_later(a_task, *, attempt, **kwargs):
    """Enqueue `a_task` again with `kwargs` after a delay that doubles with each attempt.
    Returns False (and logs) when the attempts are used up."""
    if attempt >= MAX_ATTEMPTS:
        log.error("%s gave up after %d attempts (%s)", a_task.name, attempt, kwargs)
        return False
    delay = min(FIRST_RETRY_AFTER * 2 ** (attempt - 1), LONGEST_RETRY_AFTER)
    a_task.using(run_after=timezone.now() + delay).enqueue(attempt=attempt + 1, **kwargs)
    return True


def requeue_abandoned_tasks():
    """Queue again the tasks whose worker died mid-task (kill -9, a lost machine): the queue
    would leave them "running" for ever. Each is marked failed and queued anew with the same
    arguments; every task of ours is idempotent, so one that did finish costs nothing more.
    Returns how many were queued again."""
    requeued = 0
    abandoned = DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING, started_at__lt=timezone.now() - abandoned_after()
    )
    for result in abandoned:
        with transaction.atomic():
            # Conditional: of two sweeps at once, one requeues it.
            claimed = DBTaskResult.objects.filter(pk=result.pk, status=TaskResultStatus.RUNNING).update(
                status=TaskResultStatus.FAILED,
                finished_at=timezone.now(),
                exception_class_path="accounts.tasks.AbandonedTask",
                traceback="Its worker stopped while it ran; queued again.",
            )
            if claimed:
                log.warning("Task %s (%s) lost its worker; queued again", result.pk, result.task_path)
                result.task.enqueue(*result.args_kwargs["args"], **result.args_kwargs["kwargs"])
                requeued += 1
    return requeued


@task
def send_email(email_id, attempt=1):
    """Send one queued email (accounts.services.queue_email), retrying while mail fails."""
    try:
        return services.send_queued_email(email_id)
    except OSError:  # smtplib's errors are OSErrors too: refused, timed out, rejected
        retry_later(send_email, attempt=attempt, email_id=email_id)
        raise  # this attempt is recorded as failed, with its error
