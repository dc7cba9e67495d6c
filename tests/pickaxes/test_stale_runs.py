"""A run left "running" by a dead worker is closed and refunded (DESIGN.md section 7.6)."""

from datetime import timedelta
from io import StringIO

import time_machine
from django.core.management import call_command
from django.utils import timezone

from credits import selectors as credits
from pickaxes import services
from pickaxes.models import Run
from tests.pickaxes.factories import open_run


def start(pickaxe, payer, key="k" * 20):
    return open_run(pickaxe, payer, key)


def test_refund_the_sweep_closes_and_refunds_runs_past_the_timeout(pickaxe, user, settings):
    settings.RUN_STALE_AFTER_SECONDS = 600
    run = start(pickaxe, user)
    assert credits.balance(user) == 24
    with time_machine.travel(timezone.now() + timedelta(seconds=601)):
        out = StringIO()
        call_command("close_stale_runs", stdout=out)
        assert "Closed 1 stale run." in out.getvalue()
        run.refresh_from_db()
        assert (run.status, run.refunded) == ("failed", True)
        assert credits.balance(user) == 25


def test_the_sweep_leaves_runs_that_are_not_stale_yet(pickaxe, user):
    run = start(pickaxe, user)
    assert services.close_stale_runs() == 0
    run.refresh_from_db()
    assert run.status == "running"


def test_reads_never_write_showing_the_balance_leaves_a_stale_run_to_the_sweep(client, pickaxe, user, settings):
    settings.RUN_STALE_AFTER_SECONDS = 600
    start(pickaxe, user)
    client.force_login(user)
    with time_machine.travel(timezone.now() + timedelta(seconds=601)):
        html = client.get("/account/").content.decode()
    assert '<span data-testid="credit-balance">24</span>' in html
    assert Run.objects.get().status == "running"


def test_a_stale_run_that_had_produced_output_stays_charged(pickaxe, user, settings):
    settings.RUN_STALE_AFTER_SECONDS = 600
    run = start(pickaxe, user)
    services.record_output(run, "The first words")
    with time_machine.travel(timezone.now() + timedelta(seconds=601)):
        services.close_stale_runs()
    run.refresh_from_db()
    assert (run.status, run.refunded) == ("failed", False)
    assert credits.balance(user) == 24


def test_a_finished_run_is_not_closed_twice(pickaxe, user):
    run = start(pickaxe, user)
    services.finish_run(run, output="done", model="m", prompt_tokens=1, completion_tokens=1)
    services.fail_run(run, error="late failure")
    run.refresh_from_db()
    assert (run.status, run.refunded) == ("succeeded", False)
