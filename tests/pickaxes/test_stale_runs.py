"""A run whose process died is closed by the sweep once its lease lapses, refunded if it had
no output; a run whose process is alive is never swept."""

import asyncio
from datetime import timedelta
from io import StringIO

import time_machine
from asgiref.sync import async_to_sync, sync_to_async
from django.core.management import call_command
from django.test import AsyncClient
from django.utils import timezone

from credits import selectors as credits
from pickaxes import services
from pickaxes.models import Run
from tests.pickaxes.conftest import sse_events, submission_key
from tests.pickaxes.factories import open_run

LEASE = 30


def start(pickaxe, payer, key="k" * 20):
    return open_run(pickaxe, payer, key)


def past_the_lease():
    return time_machine.travel(timezone.now() + timedelta(seconds=LEASE + 1))


def test_refund_the_sweep_closes_and_refunds_a_run_whose_lease_lapsed(pickaxe, user, settings):
    settings.RUN_LEASE_SECONDS = LEASE
    run = start(pickaxe, user)
    assert credits.balance(user) == 24
    with past_the_lease():
        out = StringIO()
        call_command("close_stale_runs", stdout=out)
        assert "Closed 1 stale run;" in out.getvalue()
        run.refresh_from_db()
        assert (run.status, run.refunded) == ("failed", True)
        assert credits.balance(user) == 25


def test_the_sweep_leaves_runs_whose_lease_holds(pickaxe, user, settings):
    settings.RUN_LEASE_SECONDS = LEASE
    run = start(pickaxe, user)
    with time_machine.travel(timezone.now() + timedelta(seconds=LEASE - 1)):
        assert services.close_stale_runs() == 0
    run.refresh_from_db()
    assert run.status == "running"


def test_a_renewed_lease_keeps_an_old_run_from_the_sweep(pickaxe, user, settings):
    settings.RUN_LEASE_SECONDS = LEASE
    run = start(pickaxe, user)
    with time_machine.travel(timezone.now() + timedelta(seconds=LEASE * 10)):
        services.keep_running({run: None})
        assert services.close_stale_runs() == 0


def test_reads_never_write_showing_the_balance_leaves_a_stale_run_to_the_sweep(client, pickaxe, user, settings):
    settings.RUN_LEASE_SECONDS = LEASE
    start(pickaxe, user)
    client.force_login(user)
    with past_the_lease():
        html = client.get("/account/").content.decode()
    assert '<span data-testid="credit-balance">24</span>' in html
    assert Run.objects.get().status == "running"


def test_a_swept_run_that_had_output_keeps_it_and_stays_charged(pickaxe, user, settings):
    settings.RUN_LEASE_SECONDS = LEASE
    run = start(pickaxe, user)
    services.keep_running({run: "The first words"})
    with past_the_lease():
        services.close_stale_runs()
    run.refresh_from_db()
    assert (run.status, run.refunded, run.output) == ("failed", False, "The first words")
    assert credits.balance(user) == 24


def test_a_finished_run_is_not_closed_twice(pickaxe, user):
    run = start(pickaxe, user)
    services.finish_run(run, output="done", model="m", prompt_tokens=1, completion_tokens=1)
    services.fail_run(run, error="late failure")
    run.refresh_from_db()
    assert (run.status, run.refunded) == ("succeeded", False)


def test_a_slow_model_whose_process_is_alive_is_never_swept(client, user, pickaxe, fake_openai, settings):
    """The first piece comes 2 s after the request, with a lease of 0.6 s: the run's
    process renews the lease meanwhile, so a sweep at 1.4 s closes nothing."""
    settings.RUN_LEASE_SECONDS = 0.6
    settings.OPENAI_TIMEOUT_SECONDS = 10
    fake_openai.stall_after_chunks, fake_openai.stall_seconds = 0, 2.0
    client.force_login(user)
    data = {"topic": "the sea", "submission_key": submission_key(client, pickaxe)}
    browser = AsyncClient()
    browser.cookies = client.cookies

    async def run_and_sweep_meanwhile():
        response = await browser.post(f"/p/{pickaxe.slug}/run/", data, headers={"accept": "text/event-stream"})

        async def read():
            return b"".join([chunk async for chunk in response.streaming_content]).decode()

        reading = asyncio.ensure_future(read())
        await asyncio.sleep(1.4)
        closed = await sync_to_async(services.close_stale_runs)()
        return closed, await reading

    closed, body = async_to_sync(run_and_sweep_meanwhile)()
    end = sse_events(body)[-1][1]
    assert closed == 0
    assert end["ok"] and "Hello from the fake model" in end["html"]
    run = Run.objects.get()
    assert (run.status, run.refunded) == ("succeeded", False)
    assert credits.balance(user) == 24
