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
