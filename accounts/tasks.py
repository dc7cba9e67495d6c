"""Background tasks (django.tasks) of accounts: sending the emails users get, and the
retry with backoff that every app's tasks use (accounts sits below every other app, so
each may import it)."""

import logging
from datetime import timedelta

from django.tasks import task
from django.utils import timezone

from accounts import services

log = logging.getLogger(__name__)

# A failed attempt is tried again after 30 s, then 1, 2, 4 … minutes, at most an hour
# apart; after MAX_ATTEMPTS (about 8 hours in all) the task stays failed in the queue's
# table, where staff see its error in the admin.
FIRST_RETRY_AFTER = timedelta(seconds=30)
LONGEST_RETRY_AFTER = timedelta(hours=1)
MAX_ATTEMPTS = 14


def retry_later(a_task, *, attempt, **kwargs):
    """Enqueue `a_task` again with `kwargs` after a delay that doubles with each attempt.
    Returns False (and logs) when the attempts are used up."""
    if attempt >= MAX_ATTEMPTS:
        log.error("%s gave up after %d attempts (%s)", a_task.name, attempt, kwargs)
        return False
    delay = min(FIRST_RETRY_AFTER * 2 ** (attempt - 1), LONGEST_RETRY_AFTER)
    a_task.using(run_after=timezone.now() + delay).enqueue(attempt=attempt + 1, **kwargs)
    return True


@task
def send_email(email_id, attempt=1):
    """Send one queued email (accounts.services.queue_email), retrying while mail fails."""
    try:
        return services.send_queued_email(email_id)
    except OSError:  # smtplib's errors are OSErrors too: refused, timed out, rejected
        retry_later(send_email, attempt=attempt, email_id=email_id)
        raise  # this attempt is recorded as failed, with its error
