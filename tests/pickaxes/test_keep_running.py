"""While runs stream, their process keeps their output so far and their leases in the
database, for all of them in one step (pickaxes.services.keep_running, driven by
pickaxes.running.Keeper)."""

import asyncio
from datetime import timedelta

from asgiref.sync import async_to_sync
from django.db import OperationalError, connection
from django.test import AsyncClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pickaxes import services
from pickaxes.models import Run
from tests.pickaxes.conftest import sse_events, submission_key
from tests.pickaxes.factories import open_run


def stream_run(client, pickaxe, key):
    """POST a run with the browser's session and read its whole stream."""
    browser = AsyncClient()
    browser.cookies = client.cookies

    async def run():
        response = await browser.post(
            f"/p/{pickaxe.slug}/run/",
            {"topic": "the sea", "submission_key": key},
            headers={"accept": "text/event-stream"},
        )
        return b"".join([chunk async for chunk in response.streaming_content]).decode()

    return run


KEEP = 'UPDATE "pickaxes_run" SET "lease_until"'


def keeps(captured):
    """The keep statements a block sent."""
    return [q["sql"] for q in captured.captured_queries if q["sql"].startswith(KEEP)]


def kept_ids(sql):
    """The ids of the runs a keep statement names (its last IN list)."""
    return set(sql.rsplit("IN (", 1)[1].split(")")[0].split(", "))


def test_one_statement_keeps_the_output_of_runs_that_have_some_and_renews_every_lease(pickaxe, user, settings):
    settings.RUN_LEASE_SECONDS = 30
    first, second, quiet = (open_run(pickaxe, user, key * 20) for key in "abc")
    Run.objects.update(lease_until=timezone.now())  # about to lapse
    with CaptureQueriesContext(connection) as captured:
        services.keep_running({first: "Once upon", second: "In the", quiet: None})
    assert len(captured.captured_queries) == 1
    soon = timezone.now() + timedelta(seconds=25)
    for run, output in ((first, "Once upon"), (second, "In the"), (quiet, "")):
        stored = Run.objects.get(pk=run.pk)
        assert stored.output == output
        assert (stored.first_output_at is not None) == bool(output)
        assert stored.lease_until > soon
    assert first.first_output_at == Run.objects.get(pk=first.pk).first_output_at


def test_the_first_output_is_dated_by_the_first_keep_only(pickaxe, user):
    run = open_run(pickaxe, user, "d" * 20)
    services.keep_running({run: "Once"})
    first_seen = Run.objects.get(pk=run.pk).first_output_at
    services.keep_running({run: "Once upon a time"})
    stored = Run.objects.get(pk=run.pk)
    assert (stored.output, stored.first_output_at) == ("Once upon a time", first_seen)


def test_a_run_already_closed_is_left_as_it_is(pickaxe, user):
    run = open_run(pickaxe, user, "e" * 20)
    services.finish_run(run, output="The whole poem.", model="m", prompt_tokens=1, completion_tokens=3)
    lease = Run.objects.get(pk=run.pk).lease_until
    services.keep_running({run: "The whole"})
    stored = Run.objects.get(pk=run.pk)
    assert (stored.status, stored.output, stored.lease_until) == ("succeeded", "The whole poem.", lease)


def test_many_runs_are_kept_a_batch_per_statement(pickaxe, user, monkeypatch):
    monkeypatch.setattr(services, "KEEP_BATCH", 2)
    runs = [open_run(pickaxe, user, key * 20) for key in "fghij"]
    with CaptureQueriesContext(connection) as captured:
        services.keep_running({run: f"words of run {n}" for n, run in enumerate(runs)})
    assert len(captured.captured_queries) == 3
    assert [r.output for r in Run.objects.order_by("id")] == [f"words of run {n}" for n in range(5)]


def test_runs_streaming_at_once_are_kept_together_while_they_stream(client, user, pickaxe, fake_openai, settings):
    """Two slow answers at once: one step keeps both, and each ends whole."""
    settings.RUN_OUTPUT_KEPT_EVERY_SECONDS = 0.1
    fake_openai.reply = " ".join(f"word{n}" for n in range(12))
    fake_openai.chunk_delay = 0.05
    client.force_login(user)
    runs = [stream_run(client, pickaxe, submission_key(client, pickaxe)) for _ in range(2)]

    async def both():
        return await asyncio.gather(*(run() for run in runs))

    with CaptureQueriesContext(connection) as captured:
        bodies = async_to_sync(both)()
    for body in bodies:
        end = sse_events(body)[-1][1]
        assert end["ok"] and "word11" in end["html"]
    ids = {str(pk) for pk in Run.objects.values_list("pk", flat=True)}
    kept_together = [sql for sql in keeps(captured) if kept_ids(sql) == ids]
    assert kept_together, keeps(captured) or "the output should be kept while the runs stream"


def test_a_keep_the_database_refuses_is_logged_and_the_next_step_keeps_the_output(
    transactional_db, client, user, pickaxe, fake_openai, settings, caplog
):
    # (transactional_db: outside a test's transaction, as in production, a refused
    # statement does not spoil the statements after it)
    settings.RUN_OUTPUT_KEPT_EVERY_SECONDS = 0.05
    fake_openai.reply = " ".join(f"word{n}" for n in range(12))
    fake_openai.chunk_delay = 0.05
    client.force_login(user)
    refused, kept = [], []

    def database_away_for_one_keep(execute, sql, params, many, context):
        if sql.startswith(KEEP):
            if not refused:
                refused.append(sql)
                raise OperationalError("server closed the connection unexpectedly")
            kept.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(database_away_for_one_keep):
        body = async_to_sync(stream_run(client, pickaxe, submission_key(client, pickaxe)))()
    end = sse_events(body)[-1][1]
    assert end["ok"] and "word11" in end["html"]
    assert refused and kept, "the step after the refused one should keep the output"
    assert "Could not keep 1 streaming run(s)" in caplog.text


def test_a_run_whose_end_the_database_refuses_still_ends_its_stream(
    transactional_db, client, user, pickaxe, fake_openai, caplog
):
    fake_openai.reply = "A short answer."
    client.force_login(user)

    def database_away_at_the_end(execute, sql, params, many, context):
        if sql.startswith('UPDATE "pickaxes_run" SET "status"'):
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(database_away_at_the_end):
        body = async_to_sync(stream_run(client, pickaxe, submission_key(client, pickaxe)))()
    end = sse_events(body)[-1][1]
    assert not end["ok"] and "could not be saved" in end["message"] and "short answer" in end["html"]
    assert "Could not record the end of a run" in caplog.text
    assert Run.objects.get().status == Run.Status.RUNNING  # left to the sweep, which keeps its output
