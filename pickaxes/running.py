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
import logging
import weakref
from dataclasses import dataclass, field

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import connection
from django.http import StreamingHttpResponse

from credits import selectors as credit_selectors
from pickaxes import llm, progress, results, services

log = logging.getLogger(__name__)

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
    keeper = _keeper()
    keeper.watch(run, parts)  # its output so far and its lease are kept from now on
    try:
        async for text in completion:
            parts.append(text)
            queue.put_nowait(("delta", text))
    except llm.ModelError as error:
        keeper.forget(run)
        result = await database(_close, services.fail_run, run, error=error.message, output="".join(parts))
    except BaseException:
        # Anything unexpected (a bug, the process shutting down) still closes the run,
        # refunded if nothing came out, and ends the stream of whoever is reading it.
        keeper.forget(run)
        failing = database(services.fail_run, run, error="The run stopped unexpectedly.", output="".join(parts))
        queue.put_nowait(("end", results.ended(await asyncio.shield(failing), balance=None)))
        raise
    else:
        keeper.forget(run)
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


class Keeper:
    """The runs this process (its event loop) streams, kept in the database together.

    Every RUN_OUTPUT_KEPT_EVERY_SECONDS (more often when a third of RUN_LEASE_SECONDS is
    shorter), one database step (services.keep_running) stores the output so far of every
    run that received some since the last step, so a dead process loses at most that much,
    and renews the lease of the others every third of a lease, however slow their model
    is. One step for all of them, not one per run: with many open streams that is what
    the database and this process would otherwise spend the most on. A step that fails
    (the database away for a moment) is logged and the next one catches up.
    """

    def __init__(self):
        self._runs = {}  # run id -> _Streaming
        self._task = None

    def watch(self, run, parts):
        loop = asyncio.get_running_loop()
        self._runs[run.pk] = _Streaming(run, parts, kept_at=loop.time())  # its start set its lease
        if self._task is None or self._task.done():
            # A context of its own, as the runs' tasks: never a request's thread.
            self._task = loop.create_task(self._keep(), context=contextvars.Context())

    def forget(self, run):
        self._runs.pop(run.pk, None)

    async def _keep(self):
        loop = asyncio.get_running_loop()
        every = min(settings.RUN_OUTPUT_KEPT_EVERY_SECONDS, settings.RUN_LEASE_SECONDS / 3)
        while self._runs:
            await asyncio.sleep(every)
            now = loop.time()
            due = [(streaming, len(streaming.parts)) for streaming in self._runs.values() if streaming.due(now)]
            if not due:
                continue
            try:
                await database(services.keep_running, {s.run: s.new_output() for s, _ in due})
            except Exception:
                log.exception("Could not keep %d streaming run(s); the next step will.", len(due))
                continue
            for streaming, count in due:
                streaming.parts_kept, streaming.kept_at = count, now


@dataclass
class _Streaming:
    run: object
    parts: list  # the pieces received so far (the run's task appends to it)
    kept_at: float  # loop time of the last keep
    parts_kept: int = 0

    def due(self, now):
        """New output to keep, or a lease to renew (a third of it has gone by)."""
        return len(self.parts) > self.parts_kept or now - self.kept_at >= settings.RUN_LEASE_SECONDS / 3

    def new_output(self):
        """The output so far if some came since the last keep, else None (the lease alone)."""
        return "".join(self.parts) if len(self.parts) > self.parts_kept else None


_keepers = weakref.WeakKeyDictionary()  # one Keeper per event loop


def _keeper():
    return _keepers.setdefault(asyncio.get_running_loop(), Keeper())


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
