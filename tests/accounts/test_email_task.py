"""Emails are queued with the change that decides them and sent by a task, once, retrying
with backoff while the mail server fails (accounts.services.queue_email, accounts.tasks)."""

from datetime import timedelta

import time_machine
from django.core import mail
from django.utils import timezone

from accounts import services
from accounts.models import OutgoingEmail
from accounts.tasks import FIRST_RETRY_AFTER, send_email
from tests.tasks import queued_tasks


def queue(key="welcome:1", subject="Hello"):
    return services.queue_email(key=key, to="owner@example.com", subject=subject, body="Body.")


def test_the_same_email_task_run_twice_sends_once(db):
    email = queue()
    assert send_email.call(email_id=email.pk) is True
    assert send_email.call(email_id=email.pk) is False
    assert len(mail.outbox) == 1
    assert OutgoingEmail.objects.get().sent_at is not None


def test_one_email_per_key_however_often_it_is_queued(db, run_tasks):
    assert queue() is not None
    assert queue() is None
    run_tasks()
    assert len(mail.outbox) == 1


def test_a_subject_with_cr_or_lf_is_sent_on_one_line(db, run_tasks):
    queue(subject="Your “Evil\r\nBcc: victim@example.com\nTool” rests")
    run_tasks()
    assert mail.outbox[0].subject == "Your “Evil Bcc: victim@example.com Tool” rests"
    assert mail.outbox[0].bcc == []


def test_while_the_mail_server_refuses_connections_the_email_waits_and_a_retry_sends_it_once(db, smtp_sink, run_tasks):
    queue()
    run_tasks()  # refused: nothing listens on the sink's port yet
    assert smtp_sink.messages == [] and OutgoingEmail.objects.get().sent_at is None
    retry = queued_tasks("accounts.tasks.send_email").get()
    assert retry.args_kwargs["kwargs"]["attempt"] == 2
    assert retry.run_after >= timezone.now() + FIRST_RETRY_AFTER - timedelta(seconds=5)

    smtp_sink.start()
    assert run_tasks() == 0  # the retry waits for its backoff
    with time_machine.travel(timezone.now() + FIRST_RETRY_AFTER + timedelta(seconds=1)):
        assert run_tasks() == 1
        assert run_tasks() == 0
    assert len(smtp_sink.messages) == 1 and smtp_sink.messages[0]["to"] == ["<owner@example.com>"]
    assert OutgoingEmail.objects.get().sent_at is not None


def test_the_backoff_doubles_and_stops_after_the_last_attempt(db, smtp_sink, run_tasks):
    from accounts.tasks import LONGEST_RETRY_AFTER, MAX_ATTEMPTS

    email = queue()
    now = timezone.now()
    waits = []
    with time_machine.travel(now, tick=False):
        for attempt in range(1, MAX_ATTEMPTS + 1):
            queued_tasks().delete()
            try:
                send_email.call(email_id=email.pk, attempt=attempt)
            except OSError:
                pass
            retry = queued_tasks().first()
            waits.append(retry and (retry.run_after - now))
    assert waits[:3] == [FIRST_RETRY_AFTER, 2 * FIRST_RETRY_AFTER, 4 * FIRST_RETRY_AFTER]
    assert max(wait for wait in waits if wait) == LONGEST_RETRY_AFTER
    assert waits[-1] is None  # given up: the last attempt queues nothing
