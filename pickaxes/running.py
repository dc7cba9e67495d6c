"""The async side of a run: drive the model stream and record how it ended.

A run has already started (charged and written) by its entry point's service before
anything here happens. `begin()` starts the model call in a task of its own on the event
loop, so a browser that goes away mid-stream does not stop the run from being recorded
(and charged, once output has started). `stream()` answers with server-sent events as the
text arrives; `page_when_done()` sends the page without JavaScript when the run ends.

The database work is the sync services, called through `database()`: Django transactions
do not work in async code, and each step gives its connection back at once, so an open
stream holds no database connection.
"""

import asyncio
import contextvars
import json
from dataclasses import dataclass, field

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import connection
from django.http import StreamingHttpResponse

from credits import selectors as credit_selectors
from pickaxes import llm, progress, results, services

_running_tasks = set()  # strong references, so the event loop does not drop running tasks


async def database(func, *args, **kwargs):
    """Run a sync database step from async code, then give its connection back."""
    return await sync_to_async(_then_release(func))(*args, **kwargs)


def _then_release(func):
    def call(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            _give_back_connection()

    return call


@dataclass
class Job:
    """A run on its way: either its result is known at once (refused, repeated), or its
    model call runs in `task` and sends ("delta", text) then ("end", RunResult) to `queue`."""

    result: results.RunResult | None = None
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    task: asyncio.Task | None = None


def finished(result):
    """A job whose result is known without calling the model."""
    return Job(result=result)


def begin(started):
    """Call the model for a run that has just started (from a sync view, on the event
    loop); a repeated submission shows its first run instead."""
    if not started.created:
        return finished(_ended(started.run))
    return async_to_sync(_begin)(started)


async def _begin(started):
    run = started.run
    pickaxe = run.pickaxe
    completion = llm.start_completion(
        model=pickaxe.model,
        system=pickaxe.system_instructions,
        prompt=services.render_prompt(pickaxe.prompt_template, run.inputs),
        temperature=float(pickaxe.temperature),
        max_tokens=pickaxe.max_output_tokens,
        api_key=started.api_key,
    )
    job = Job()
    # A fresh context: the run's database steps never use the request's thread, which
    # goes back to serving other requests when the view returns.
    job.task = asyncio.create_task(_drive(run, completion, job.queue), context=contextvars.Context())
    _running_tasks.add(job.task)
    job.task.add_done_callback(_running_tasks.discard)
    return job


async def _drive(run, completion, queue):
    parts = []
    loop = asyncio.get_running_loop()
    kept_at = loop.time()
    heartbeat = asyncio.create_task(_keep_lease(run))
    try:
        async for text in completion:
            parts.append(text)
            queue.put_nowait(("delta", text))
            if loop.time() - kept_at >= settings.RUN_OUTPUT_KEPT_EVERY_SECONDS:
                # Kept in batches, not per piece: a dead process loses at most this much.
                await database(services.record_output, run, "".join(parts))
                kept_at = loop.time()
    except llm.ModelError as error:
        heartbeat.cancel()
        result = await database(_close, services.fail_run, run, error=error.message, output="".join(parts))
    except BaseException:
        # Anything unexpected (a bug, the process shutting down) still closes the run,
        # refunded if nothing came out, and ends the stream of whoever is reading it.
        heartbeat.cancel()
        failing = database(services.fail_run, run, error="The run stopped unexpectedly.", output="".join(parts))
        queue.put_nowait(("end", results.ended(await asyncio.shield(failing), balance=None)))
        raise
    else:
        heartbeat.cancel()
        result = await database(
            _close,
            services.finish_run,
            run,
            output="".join(parts),
            model=completion.model_label,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            finish_reason=completion.finish_reason,
        )
    queue.put_nowait(("end", result))
    return result


async def _keep_lease(run):
    """Renew the run's lease while this process drives it, however slow the model is."""
    while True:
        await asyncio.sleep(settings.RUN_LEASE_SECONDS / 3)
        await database(services.renew_lease, run)


def _close(step, run, **details):
    """Record the end of the run and say how it went, in one database step."""
    return _ended(step(run, **details))


def _ended(run):
    return results.ended(run, balance=credit_selectors.available(run.payer))


async def result(job):
    """The result of a run once it has ended (the page without JavaScript).

    Shielded: if the browser leaves, whatever waits here is cancelled, but the run goes on
    and is recorded, as on the streamed path.
    """
    return job.result or await asyncio.shield(job.task)


def stream(job, *, visitor=False):
    """The run as server-sent events: `output` with the output so far as HTML (throttled,
    see pickaxes/progress.py), then `end` with the result. For an embed's `visitor`, the
    result carries nothing about the payer."""
    _give_back_connection()
    return StreamingHttpResponse(
        _events(job, visitor=visitor),
        content_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def page_when_done(page):
    """A page sent whole once the run has ended: `page` waits for it and yields the HTML.
    The view returns at once, so no thread waits for the model meanwhile."""
    _give_back_connection()
    return StreamingHttpResponse(page, content_type="text/html; charset=utf-8")


def _give_back_connection():
    """The view's database work is done: the stream needs no connection, so the pool gets
    it back now rather than when the stream ends."""
    if not connection.in_atomic_block:  # (tests run inside one transaction)
        connection.close()


async def _events(job, *, visitor):
    end = job.result
    shown = progress.Progress()
    while end is None:
        # Whatever has arrived meanwhile is taken at once (a fast model sends its pieces in
        # bursts); the output so far goes out when it is due (see pickaxes/progress.py).
        try:
            async with asyncio.timeout(shown.wait()):
                batch = [await job.queue.get()]
        except TimeoutError:
            yield _event("output", shown.render())
            continue
        while not job.queue.empty():
            batch.append(job.queue.get_nowait())
        for kind, payload in batch:
            if kind == "delta":
                shown.add(payload)
            else:
                end = payload
        if end is None and shown.due():
            yield _event("output", shown.render())
    yield _event("end", (end.for_visitor() if visitor else end).as_event())


def _event(name, data):
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
