"""Writes for pickaxes: saving a pickaxe, and a run's life (start, finish, fail, sweep).

A run starts in one transaction owned by its entry point (start_site_run here,
embeds.services.start_embed_run for embeds): the charge (credits.services.spend, keyed by
the form's submission key, so a repeated post charges once) and the Run row. The
transaction ends before the model is called. A failure before any output refunds at
once; a run that produced output stays charged.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from accounts import services as accounts
from credits import services as credits
from pickaxes.models import PLACEHOLDER, Pickaxe, Run

Status = Run.Status


def render_prompt(template, values):
    """Put the inputs into the template by plain substitution, in one pass.

    Inputs are never evaluated: `{{x}}` or `{% tag %}` typed by a user stays literal text.
    """
    return PLACEHOLDER.sub(lambda match: str(values.get(match.group(1), "")), template)


def field_max_chars(max_length):
    """The most characters a run's text input takes: the field's own limit within the
    site-wide RUN_INPUT_MAX_CHARS (a field with no limit gets the site's)."""
    cap = settings.RUN_INPUT_MAX_CHARS
    return min(max_length, cap) if max_length else cap


def prompt_size_problem(template, values):
    """Why the prompt these inputs make is too long to send (RUN_PROMPT_MAX_CHARS), or "".

    Checked before anything is charged: each run costs one credit whatever its size, so
    the size is bounded here instead."""
    size, cap = len(render_prompt(template, values)), settings.RUN_PROMPT_MAX_CHARS
    if size <= cap:
        return ""
    return f"The inputs make a prompt of {size:,} characters; this tool takes at most {cap:,}. Shorten them."


def template_problems(template, keys):
    """What is wrong between a template and its fields' keys, as messages (empty if fine)."""
    problems = []
    used = set(PLACEHOLDER.findall(template))
    missing = sorted(used - set(keys))
    unused = sorted(set(keys) - used)
    if missing:
        problems.append(
            "The template uses " + ", ".join(f"{{{{{key}}}}}" for key in missing) + " but no field has that key."
        )
    if unused:
        problems.append(
            "The field"
            + ("s " if len(unused) > 1 else " ")
            + ", ".join(unused)
            + (" are" if len(unused) > 1 else " is")
            + " not used in the template."
        )
    return problems


@transaction.atomic
def save_pickaxe(*, owner, form, fields_formset):
    """Save a pickaxe and its ordered input fields (forms already validated together)."""
    pickaxe = form.save(commit=False)
    if pickaxe.pk is None:
        pickaxe.owner = owner
    pickaxe.save()
    fields_formset.instance = pickaxe
    fields_formset.save()
    return pickaxe


@transaction.atomic
def set_published(*, pickaxe, published):
    """Publish a pickaxe (public: listed on the home page, anyone may run it) or unpublish it
    (private: only its owner may open it); returns the pickaxe as saved."""
    pickaxe.visibility = Pickaxe.Visibility.PUBLIC if published else Pickaxe.Visibility.PRIVATE
    pickaxe.save(update_fields=["visibility", "updated_at"])
    return pickaxe


@dataclass(frozen=True)
class Started:
    """A run that was opened (`created`), or the first run of a repeated submission."""

    run: Run
    created: bool
    api_key: str | None = None  # the payer's own key (Gold); None: the platform's


def start_site_run(*, pickaxe, user, inputs, submission_key, testing=False):
    """Submit on the site (or Test in the studio): the person who presses the button pays.

    Returns Started; raises credits.OutOfCredits when the payer has nothing to spend, and
    accounts.OwnKeyUnreadable (before anything is charged) when the payer's saved own key
    can no longer be read: a Gold payer's run never falls back to credits.
    """
    own_key = accounts.usable_own_api_key(user)
    try:
        with transaction.atomic(durable=True):
            try:
                return open_run(
                    pickaxe=pickaxe,
                    payer=user,
                    submitted_by=user,
                    inputs=inputs,
                    submission_key=submission_key,
                    source=Run.Source.TEST if testing else Run.Source.SITE,
                    own_key=own_key,
                )
            except credits.OutOfCredits as error:
                refusal = error  # raised after the block, so the "empty until" hint spend wrote commits
    except IntegrityError:
        return first_run_of(user, submission_key)
    raise refusal


def open_run(*, pickaxe, payer, submitted_by, inputs, submission_key, source, own_key=None):
    """Charge the payer one credit and write the Run, inside the entry point's transaction.

    The charge is keyed by the submission key, so a repeated submission returns the first
    run and charges nothing more. A run on the payer's own key (`own_key`) spends nothing.
    Raises credits.OutOfCredits (nothing written but spend's "empty until" hint), and
    IntegrityError when the same submission's Run was written meanwhile by another request
    (the entry point then answers with first_run_of() once its transaction has rolled back).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("open_run() runs inside its entry point's transaction.")
    entry = None
    now = timezone.now()
    if own_key is None:
        entry = credits.spend(payer, key=f"run:{submission_key}", note=f"run of {pickaxe.slug}")
        if entry.replayed:
            return Started(run=Run.objects.select_related("pickaxe").get(entry=entry), created=False)
        _watch_balance(payer, entry=entry, pickaxe=pickaxe, source=source)
    run = Run(
        pickaxe=pickaxe,
        payer=payer,
        submitted_by=submitted_by,
        source=source,
        submission_key=submission_key,
        inputs=inputs,
        model=pickaxe.model,
        entry=entry,
        own_key=own_key is not None,
        started_at=now,
        lease_until=now + lease(),
    )
    _write_run(run)
    return Started(run=run, created=True, api_key=own_key)


# The Run's INSERT (its columns in step with Run: a new NOT NULL column without a database
# default needs its value here), and the pickaxe's count of runs.
_INSERT_RUN = (
    "INSERT INTO pickaxes_run (pickaxe_id, payer_id, submitted_by_id, source, submission_key, inputs,"
    " output, model, status, finish_reason, error, entry_id, refunded, own_key, started_at, lease_until)"
    " VALUES (%s, %s, %s, %s, %s, %s, '', %s, %s, '', '', %s, %s, %s, %s, %s) RETURNING id"
)
_COUNT_RUN = "UPDATE pickaxes_pickaxe SET runs_count = runs_count + 1 WHERE id = %s"


def _write_run(run):
    """INSERT the new run and count it on its pickaxe, as plain SQL because every run makes
    them (built by the ORM they cost a run ~0.4 ms of CPU more; bench/README.md,
    "Instructions per run"). On PostgreSQL they are one statement (the count in a
    data-modifying CTE): the payer's row lock, which the spend took, is held across one
    client round trip fewer until the entry point's COMMIT. SQLite has no data-modifying
    CTEs: two statements. A second run of the same submission raises IntegrityError
    (run_unique_submission_per_payer), as a save() would."""
    adapt = connection.ops.adapt_datetimefield_value
    inputs = Run._meta.get_field("inputs").get_db_prep_save(run.inputs, connection)
    values = [
        run.pickaxe_id,
        run.payer_id,
        run.submitted_by_id,
        run.source,
        run.submission_key,
        inputs,
        run.model,
        run.status,
        run.entry_id,
        run.refunded,
        run.own_key,
        adapt(run.started_at),
        adapt(run.lease_until),
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"WITH counted AS ({_COUNT_RUN}) {_INSERT_RUN}", [run.pickaxe_id, *values])
            run.pk = cursor.fetchone()[0]
        else:
            cursor.execute(_INSERT_RUN, values)
            run.pk = cursor.fetchone()[0]
            cursor.execute(_COUNT_RUN, [run.pickaxe_id])
    run._state.adding = False
    run._state.db = connection.alias


def _watch_balance(payer, *, entry, pickaxe, source):
    """The low-balance alert, decided under the payer's row lock that the spend took (one
    query when nothing crossed). An embed's crossing points its owner to the usage page."""
    if source == Run.Source.EMBED:
        about, page = f"your embed of “{pickaxe.name}”", reverse("studio_usage", args=[pickaxe.slug])
    else:
        about, page = f"“{pickaxe.name}”", reverse("account")
    credits.watch_low_balance(payer, entry=entry, about=about, page=page)


def first_run_of(payer, submission_key):
    """The run a submission key already started (a repeated submission is not run again)."""
    return Started(
        run=Run.objects.select_related("pickaxe").get(payer=payer, submission_key=submission_key), created=False
    )


def lease():
    return timedelta(seconds=settings.RUN_LEASE_SECONDS)


# Runs per statement of keep_running (at most three parameters each).
KEEP_BATCH = 200


def keep_running(runs):
    """What the process driving these runs knows, kept in the database: `runs` maps each
    run to its output so far, or to None when it has nothing new. Every run's lease is
    renewed (the sweep leaves it alone), and a run with output keeps it: once a run has
    output it stays charged whatever happens, even if its process dies.

    One plain statement per KEEP_BATCH runs, not one per run: a process streams many runs
    at once and keeps them all every RUN_OUTPUT_KEPT_EVERY_SECONDS (pickaxes/running.py),
    so 1,000 open streams cost one database step a second instead of 1,000 (each with its
    own commit). A run already closed is left as it is."""
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    items = list(runs.items())
    with connection.cursor() as cursor:
        for at in range(0, len(items), KEEP_BATCH):
            batch = items[at : at + KEEP_BATCH]
            outputs = [(run, output) for run, output in batch if output is not None]
            columns, params = ["lease_until = %s"], [adapt(now + lease())]
            if outputs:
                for run, output in outputs:
                    run.output, run.first_output_at = output, run.first_output_at or now
                columns.append("output = CASE id" + " WHEN %s THEN %s" * len(outputs) + " ELSE output END")
                params += [value for run, output in outputs for value in (run.pk, output)]
                columns.append(
                    "first_output_at = COALESCE(first_output_at, CASE WHEN id IN ("
                    + ", ".join(["%s"] * len(outputs))
                    + ") THEN %s END)"
                )
                params += [run.pk for run, _ in outputs] + [adapt(now)]
            cursor.execute(
                f"UPDATE pickaxes_run SET {', '.join(columns)} WHERE status = %s AND id IN ({', '.join(['%s'] * len(batch))})",
                [*params, Status.RUNNING, *(run.pk for run, _ in batch)],
            )


def finish_run(run, *, output, model, prompt_tokens, completion_tokens, finish_reason="stop"):
    """Record a run that completed (unless the sweep closed it first). Returns the run.

    The model said it finished (`finish_reason`); a run with no output at all is not an
    answer, so it fails instead, uncharged."""
    if not output:
        return fail_run(run, error="The model sent back an empty answer.")
    now = timezone.now()
    done = {
        "status": Status.SUCCEEDED,
        "finish_reason": finish_reason,
        "output": output,
        "model": model or run.model,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "finished_at": now,
        "latency_ms": _latency_ms(run, now),
        "first_output_at": run.first_output_at or (now if output else None),
    }
    if _close_run(run.pk, done):
        for name, value in done.items():
            setattr(run, name, value)
    else:
        run.refresh_from_db()
    return run


def _close_run(run_id, done):
    """Write `done` (finish_run's columns and values) unless the run is closed already;
    True if it was still running. One plain statement: every run ends here (the ORM built
    it in ~0.2 ms of CPU; bench/README.md, "Instructions per run")."""
    adapt = connection.ops.adapt_datetimefield_value
    columns = ", ".join(f"{name} = %s" for name in done)
    values = [adapt(value) if isinstance(value, datetime) else value for value in done.values()]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE pickaxes_run SET {columns} WHERE id = %s AND status = %s", [*values, run_id, Status.RUNNING]
        )
        return cursor.rowcount == 1


def fail_run(run, *, error, output=None):
    """Record a failed run, with the `output` it produced (None: keep what was stored as it
    streamed). A run with no output gets its credit back at once."""
    now = timezone.now()
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.status != Status.RUNNING:
            return locked  # already closed (by the sweep, or twice)
        if output is not None:
            locked.output = output
        locked.status, locked.error = Status.FAILED, error[:300]
        locked.finished_at, locked.latency_ms = now, _latency_ms(locked, now)
        if not locked.output and not locked.first_output_at and locked.entry_id:
            try:
                credits.refund(locked.entry, note="run failed before any output")
            except credits.AlreadyRefunded:
                pass
            locked.refunded = True
        locked.save()
    return locked


def _latency_ms(run, now):
    return int((now - run.started_at).total_seconds() * 1000)


def close_stale_runs():
    """Close the runs nobody drives any more: still "running" with their lease lapsed (the
    process died). Refunded when they had no output; their output so far is kept.

    Run by `manage.py close_stale_runs` on a schedule; never from a page or a read. A run
    whose model is slow but whose process is alive keeps renewing its lease: never swept.
    """
    now = timezone.now()
    stale = Run.objects.filter(status=Status.RUNNING, lease_until__lt=now)
    closed = 0
    for run in stale.only("pk"):
        fail_run(run, error="The run stopped without finishing.")
        closed += 1
    return closed


def refund_run(run, *, reason, staff):
    """Staff give back a run's credit (once); the run is marked refunded."""
    if run.entry_id is None:
        raise ValueError("This run spent no credit (own key), so there is nothing to refund.")
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        credits.refund(locked.entry, note=reason, staff=staff)
        locked.refunded = True
        locked.save(update_fields=["refunded"])
    run.refresh_from_db()
