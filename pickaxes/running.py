"""The async side of a run: call the model, stream its output, record the result.

The model call runs in a task of its own, so a browser that goes away mid-stream does
not stop the run from being recorded (and charged, once output has started). The task
runs in a fresh context, so it never depends on the request's executor, which ends
when the view returns. The database work is the sync services, called through
`database()`: Django transactions do not work in async code, and each step gives its
connection back at once, so an open stream holds no database connection.
"""

import asyncio
import contextvars
import json
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import StreamingHttpResponse
from django.template.defaultfilters import date as format_date
from django.urls import reverse
from django.utils import timezone

from accounts import services as accounts
from pickaxes import llm, services
from pickaxes.models import Run
from pickaxes.output import render_output

_running_tasks = set()  # strong references, so the event loop does not drop running tasks


def _then_release(func):
    def call(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            if not connection.in_atomic_block:  # (tests run inside one transaction)
                connection.close()

    return call


async def database(func, *args, **kwargs):
    """Run a sync database step from async code, then give its connection back."""
    return await sync_to_async(_then_release(func))(*args, **kwargs)


async def stream_response(job, *, visitor=False):
    """The run as server-sent events. The request's own connection is given back first:
    the stream itself needs none."""
    await database(lambda: None)
    return StreamingHttpResponse(
        sse_events(job, visitor=visitor), content_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@dataclass
class RunResult:
    """What the page shows when a run ends (or is refused)."""

    ok: bool
    output_html: str = ""
    message: str = ""
    refunded: bool = False
    balance: int | None = None
    demo: bool = False
    billing_url: str = ""
    run_id: int | None = None
    visitor_safe: bool = False  # the message may be shown to an embed visitor as it is

    def for_visitor(self):
        """What an embed's visitor may see: no balance, no billing, no account details."""
        message = self.message
        if not self.ok and not self.visitor_safe:
            message = "This tool could not finish its answer. Please try again in a moment."
        return RunResult(ok=self.ok, output_html=self.output_html, message=message if self.message else "",
                         demo=self.demo, run_id=self.run_id, visitor_safe=True)

    def as_event(self):
        return {
            "ok": self.ok,
            "html": str(self.output_html),
            "message": self.message,
            "refunded": self.refunded,
            "balance": self.balance,
            "demo": self.demo,
            "billing_url": self.billing_url,
        }


@dataclass
class Job:
    result: RunResult | None = None  # known at once: refused, or a repeated submission
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    task: asyncio.Task | None = None


async def begin(*, pickaxe, payer, submitted_by, inputs, submission_key, source, refusal=None, **run_fields):
    """Charge and open the run, then start the model call in its own task.

    A Gold payer with a saved key runs on that key and spends no credit; if the key
    fails, the run fails: it never falls back to credits. `refusal(payer,
    next_return_at)` builds what an out-of-credits payer's visitor sees (embeds show a
    neutral message); `run_fields` go to services.start_run (visitor, guard).
    """
    own_key = await database(accounts.usable_own_api_key, payer)
    try:
        run, created = await database(
            services.start_run,
            pickaxe=pickaxe, payer=payer, submitted_by=submitted_by, inputs=inputs,
            submission_key=submission_key, source=source, own_key=bool(own_key), **run_fields,
        )
    except services.RunRefused as refused:
        return Job(result=await database(refusal or _refusal, payer, refused.next_return_at))
    except services.RunNotAllowed as not_allowed:
        return Job(result=RunResult(ok=False, message=not_allowed.message, visitor_safe=True))
    if not created:
        return Job(result=await database(_repeated, run))

    completion = llm.start_completion(
        model=pickaxe.model,
        system=pickaxe.system_instructions,
        prompt=services.render_prompt(pickaxe.prompt_template, inputs),
        temperature=float(pickaxe.temperature),
        max_tokens=pickaxe.max_output_tokens,
        api_key=own_key if run.own_key else None,
    )
    job = Job()
    # A fresh context: the run's database steps never use the request's executor, which
    # quits when the view returns (asgiref then gives them its shared sync thread).
    job.task = asyncio.create_task(_drive(run, completion, job.queue), context=contextvars.Context())
    _running_tasks.add(job.task)
    job.task.add_done_callback(_running_tasks.discard)
    return job


async def _drive(run, completion, queue):
    parts = []
    try:
        async for text in completion:
            if not parts:
                await database(services.mark_output_started, run)
            parts.append(text)
            queue.put_nowait(("delta", text))
    except llm.ModelError as error:
        await database(services.fail_run, run, error=error.message, output="".join(parts))
    except BaseException:
        # Anything unexpected still closes the run (refunded if nothing came out).
        failing = database(services.fail_run, run, error="The run stopped unexpectedly.", output="".join(parts))
        await asyncio.shield(failing)
        raise
    else:
        await database(
            services.finish_run,
            run,
            output="".join(parts),
            model=completion.model_label,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
        )
    result = await database(_outcome, run)
    queue.put_nowait(("end", result))
    return result


async def wait(job):
    """The result of a run once it has ended (the page without JavaScript).

    Shielded: if the browser leaves, the view is cancelled but the run goes on and is
    recorded, as on the streamed path.
    """
    return job.result or await asyncio.shield(job.task)


async def sse_events(job, *, visitor=False):
    """Server-sent events: `delta` with text as it arrives, then `end` with the result.
    For an embed's `visitor`, the result carries nothing about the payer."""
    if job.result:
        yield _event("end", (job.result.for_visitor() if visitor else job.result).as_event())
        return
    while True:
        kind, payload = await job.queue.get()
        if kind == "delta":
            yield _event("delta", {"text": payload})
        else:
            yield _event("end", (payload.for_visitor() if visitor else payload).as_event())
            return


def event_stream_error(message, *, login_url=""):
    result = RunResult(ok=False, message=message, billing_url="")
    event = result.as_event() | {"login_url": login_url}

    async def one_event():
        yield _event("end", event)

    return StreamingHttpResponse(one_event(), content_type="text/event-stream")


def form_errors_text(form):
    def label(name):
        field = form.fields.get(name)
        return f"{field.label}: " if field is not None and field.label and not field.widget.is_hidden else ""

    return "Check the form: " + " ".join(f"{label(name)}{' '.join(errors)}" for name, errors in form.errors.items())


def _event(name, data):
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def _outcome(run):
    run.refresh_from_db()
    balance = services.current_balance(run.payer)
    demo = run.model == llm.DEMO_LABEL
    if run.status == Run.Status.SUCCEEDED:
        return RunResult(ok=True, output_html=render_output(run.output), balance=balance, demo=demo, run_id=run.pk)
    if run.own_key:
        message = f"Your own OpenAI key: {run.error} Runs on your own key never use credits."
    elif run.refunded:
        message = f"{run.error} You were not charged for this run."
    else:
        message = f"{run.error} The output so far is kept, and the run was charged."
    return RunResult(
        ok=False, output_html=render_output(run.output), message=message, refunded=run.refunded,
        balance=balance, demo=demo, run_id=run.pk,
    )


def _repeated(run):
    """The same form was posted again: show the first run, charge nothing more."""
    if run.status == Run.Status.RUNNING:
        return RunResult(
            ok=False,
            message="This form was already submitted and is still running; see your account page for the result.",
            balance=services.current_balance(run.payer),
            run_id=run.pk,
        )
    return _outcome(run)


def _refusal(payer, next_return_at):
    if next_return_at:
        when = format_date(timezone.localtime(next_return_at), "j M \\a\\t H:i T")
        message = f"You are out of credits. Your next credit comes back on {when}."
    else:
        message = "You are out of credits."
    return RunResult(ok=False, message=message, balance=0, billing_url=reverse("billing"))
