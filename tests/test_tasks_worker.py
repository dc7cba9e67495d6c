"""The real worker: `manage.py db_worker --batch` (django-tasks-db) runs what the site
queued, in its own transactions, as the `worker:` process does in production."""

import signal

import pytest
from django.core import mail
from django.core.management import call_command

from accounts import services
from accounts.models import OutgoingEmail
from tests.tasks import queued_tasks


@pytest.fixture
def keep_signal_handlers():
    # The worker installs its own SIGINT/SIGTERM handlers; give pytest its own back.
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.django_db(transaction=True)
def test_the_db_worker_sends_a_queued_email_once_and_runs_the_sweep(keep_signal_handlers):
    from pickaxes.tasks import close_stale_runs

    email = services.queue_email(key="worker:1", to="owner@example.com", subject="Hello", body="Body.")
    close_stale_runs.enqueue()
    assert queued_tasks().count() == 2

    call_command("db_worker", "--batch", "--no-reload", "--no-startup-delay", "--interval", "0", verbosity=0)

    assert not queued_tasks().exists()
    assert [message.subject for message in mail.outbox] == ["Hello"]
    assert OutgoingEmail.objects.get(pk=email.pk).sent_at is not None

    # Run the email's task again (as after a worker died before recording its end): no second email.
    from accounts.tasks import send_email

    send_email.enqueue(email_id=email.pk)
    call_command("db_worker", "--batch", "--no-reload", "--no-startup-delay", "--interval", "0", verbosity=0)
    assert len(mail.outbox) == 1


def test_an_email_task_whose_worker_died_mid_send_is_queued_again_and_sends_once(db, run_tasks):
    from datetime import timedelta
    from io import StringIO

    import time_machine
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from accounts.tasks import abandoned_after

    services.queue_email(key="lost:1", to="owner@example.com", subject="Hello", body="Body.")
    DBTaskResult.objects.get().claim("a-worker-that-was-killed")  # "running", and nobody runs it

    out = StringIO()
    call_command("requeue_abandoned_tasks", stdout=out)
    assert "Queued 0 abandoned tasks again." in out.getvalue()  # it may still be running
    with time_machine.travel(timezone.now() + abandoned_after() + timedelta(seconds=1)):
        call_command("requeue_abandoned_tasks", stdout=out)
        assert "Queued 1 abandoned task again." in out.getvalue()
        call_command("requeue_abandoned_tasks", stdout=out)  # once only
        assert run_tasks() == 1
    assert len(mail.outbox) == 1
