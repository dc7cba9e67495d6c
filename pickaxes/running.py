"""The async side of a run: drive the model stream, record how it ended, and answer it.

A run has already started (charged and written) by start_run before anything here
happens. `begin()` makes its Job; the model is called once the response is being sent, in
a task of its own on the event loop that sends it, so a browser that goes away mid-stream
does not stop the run from being recorded (and charged, once output has started).
`respond()` answers a job, for every entry point: as server-sent events while the text
arrives, as the whole page, or as JSON (the run API) once the run has ended.

Every server Django offers runs this: the production ASGI server streams; under WSGI
(`manage.py runserver`, gunicorn's sync worker) Django sends an async response whole, so
the run is driven to its end inside that one response and the page or the events arrive
when it has ended.

The database work is the sync services, called through `database()`: Django transactions
do not work in async code, and each step gives its connection back at once, so an open
stream holds no database connection.
"""

import asyncio
import contextvars
import dataclasses
import functools
import json
import logging
import weakref
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.http import StreamingHttpResponse
from django.shortcuts import render

from credits import selectors as credit_selectors
from pickaxes import llm, progress, results, selectors, services

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
    """A run on its way: either its result is known at once (refused, or a repeated
    submission: `result`), or `started` is a new run whose model call start() begins, in a
    task that sends ("delta", text) then ("end", RunResult) to `queue`."""

    result: results.RunResult | None = None
    started: object = None  # pickaxes.services.Started
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    task: asyncio.Task | None = None

    @property
    def run_id(self):
        return self.started.run.pk if self.started else None

    def start(self):
        """Call the model (once), from the event loop that sends the response."""
        if self.result is not None or self.task is not None:
            return
        run, pickaxe, prompt = self.started.run, self.started.run.pickaxe, self.started.prompt
        if prompt is not None:  # a chat's message: the conversation so far, bounded
            said = {"messages": prompt.messages}
        else:
            said = {
                "system": pickaxe.system_instructions,
                "prompt": services.render_prompt(pickaxe.prompt_template, run.inputs),
            }
        completion = llm.start_completion(
            model=pickaxe.model,
            temperature=float(pickaxe.temperature),
            max_tokens=pickaxe.max_output_tokens,
            api_key=self.started.api_key,
            **said,
        )
        # A fresh context: the run's database steps never use the request's thread.
        self.task = asyncio.create_task(_drive(run, completion, self.queue), context=contextvars.Context())
        _running_tasks.add(self.task)
        self.task.add_done_callback(_running_tasks.discard)


def finished(result):
    """A job whose result is known without calling the model."""
    return Job(result=result)


def begin(started):
    """The job of a run start_run opened; a repeated submission shows its first run."""
    if not started.created:
        return Job(result=_ended(started.run), started=started)
    return Job(started=started)


async def _drive(run, completion, queue):
    """Read the model's answer into `queue`, then record how the run ended. Whatever
    happens, the queue gets its ("end", RunResult), so no reader waits for ever."""
    parts = []
    keeper = _keeper()
    keeper.watch(run, parts)  # its output so far and its lease are kept from now on
    try:
        async for text in completion:
            parts.append(text)
            queue.put_nowait(("delta", text))
    except llm.ModelError as error:
        keeper.forget(run)
        step = functools.partial(services.fail_run, run, error=error.message, output="".join(parts))
    except BaseException:
        # Anything unexpected (a bug, the process shutting down) still closes the run,
        # refunded if nothing came out, and ends the stream of whoever is reading it.
        keeper.forget(run)
        step = functools.partial(services.fail_run, run, error="The run stopped unexpectedly.", output="".join(parts))
        queue.put_nowait(("end", await _record(step, parts, shielded=True)))
        raise
    else:
        keeper.forget(run)
        step = functools.partial(
            services.finish_run,
            run,
            output="".join(parts),
            model=completion.model_label,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            finish_reason=completion.finish_reason,
        )
    result = await _record(step, parts)
    queue.put_nowait(("end", result))
    return result


async def _record(step, parts, *, shielded=False):
    """Record the run's end (`step`) and say how it went; if the database refuses, say that,
    and leave the run to the sweep (its lease lapses), which closes it with the output kept."""
    try:
        recording = database(_close, step)
        return await (asyncio.shield(recording) if shielded else recording)
    except Exception:
        log.exception("Could not record the end of a run; the sweep will close it.")
        return results.not_recorded("".join(parts))


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


def _close(step):
    """Record the end of the run and say how it went, in one database step."""
    return _ended(step())


def _ended(run):
    return results.ended(run, balance=credit_selectors.available(run.payer))


async def result(job):
    """The result of a run once it has ended. Shielded: if the browser leaves, whatever
    waits here is cancelled, but the run goes on and is recorded, as on the streamed path."""
    if job.result is not None:
        return job.result
    job.start()
    return await asyncio.shield(job.task)


def respond(job, *, stream=False, page=None, data=None, visitor=False, status=200):
    """Answer a job, the one way every entry point does:

    - `page` (request, template name, context): the whole page, with `result` (the
      RunResult) in its context, at once when the result is known, else when the run ends;
    - `data` (a dict of the caller's own members, e.g. the API's end user): the run as JSON
      (pickaxes.selectors.run_data, plus `data`) once it has ended;
    - `stream`: server-sent events instead: `output` events while the text arrives, then
      `end`. For a page, `output` carries the output so far as HTML (throttled, see
      pickaxes/progress.py) and `end` the RunResult; for data, `output` carries the new
      text as Markdown ({"text"}) and `end` the same JSON as without a stream.

    For an embed's `visitor`, the result carries nothing about the payer. The view
    returns at once: no thread waits for the model while the answer is sent.
    """
    _give_back_connection()
    if data is not None:
        body = _data_events(job, data) if stream else _data_when_done(job, data)
        content_type = "text/event-stream" if stream else "application/json"
    elif stream:
        body, content_type = _events(job, visitor=visitor), "text/event-stream"
    elif job.result is not None:
        request, template, context = page
        result = job.result.for_visitor() if visitor else job.result
        return render(request, template, {**context, "result": result}, status=status)
    else:
        body, content_type = _page_when_done(job, page, visitor=visitor), "text/html; charset=utf-8"
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"} if stream else {}
    return StreamingHttpResponse(body, content_type=content_type, headers=headers)


def _give_back_connection():
    """The view's database work is done: the answer needs no connection, so the pool gets
    it back now rather than when the answer has been sent."""
    if not connection.in_atomic_block:  # (tests run inside one transaction)
        connection.close()


async def _page_when_done(job, page, *, visitor):
    request, template, context = page
    ended = await result(job)
    ended = ended.for_visitor() if visitor else ended
    response = await database(render, request, template, {**context, "result": ended})
    yield response.content


async def _data_when_done(job, data):
    await result(job)
    yield _json({**await database(selectors.run_data, job.run_id), **data})


async def _data_events(job, data):
    if job.result is None:
        job.start()
        end = None
        while end is None:
            batch = [await job.queue.get()]
            while not job.queue.empty():
                batch.append(job.queue.get_nowait())
            text = "".join(payload for kind, payload in batch if kind == "delta")
            end = next((payload for kind, payload in batch if kind == "end"), None)
            if text:
                yield _event("output", {"text": text})
    yield _event("end", {**await database(selectors.run_data, job.run_id), **data})


async def _events(job, *, visitor):
    end = job.result
    if end is None:
        job.start()
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
    prompt = job.started.prompt if job.started is not None else None
    if prompt is not None and prompt.forgotten:
        end = dataclasses.replace(end, forgotten=True)
    yield _event("end", (end.for_visitor() if visitor else end).as_event())


def _json(data):
    return json.dumps(data, cls=DjangoJSONEncoder)


def _event(name, data):
    return f"event: {name}\ndata: {_json(data)}\n\n"
