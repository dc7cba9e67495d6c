"""Writes for pickaxes: saving a pickaxe, and a run's life (start, keep, finish, fail, sweep).

Every run starts in start_run, whoever pays: the site's Submit and the studio's Test
(start_site_run here), an embed and the run API (embeds.services) differ only in the
payer, the rows they lock, their limits and the rows they record with the run, all passed
as data. The charge (credits.services.spend, keyed by the submission key, so a repeated
post charges once) and the Run row are one short transaction that ends before the model
is called. A failure before any output refunds at once; a run that produced output stays
charged.

A chat's message is a run like any other (start_run with its `conversation`): the same
charge, limits, refund and idempotency, message by message.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from accounts import services as accounts
from credits import services as credits
from pickaxes import chat
from pickaxes.models import PLACEHOLDER, Conversation, Pickaxe, Run

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
    """Save a pickaxe and its ordered input fields (forms already validated together); a
    chat's `fields_formset` is None: its fields are left as they were."""
    pickaxe = form.save(commit=False)
    if pickaxe.pk is None:
        pickaxe.owner = owner
    pickaxe.save()
    if fields_formset is not None:
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
    prompt: chat.Prompt | None = None  # a new chat message's: what the model is sent


site_holder = chat.site_holder


def new_conversation(*, pickaxe, holder, source, message):
    """An unsaved conversation for a chat's first message; start_run saves it with that
    message's run (a refused message leaves no empty conversation behind)."""
    return Conversation(pickaxe=pickaxe, holder=holder, source=source, title=chat.title_for(message))


def start_site_message(*, pickaxe, user, message, submission_key, conversation=None, testing=False):
    """Send on a chat pickaxe's page (or Test in the studio): one message, one run, paid as
    start_site_run's; `conversation` None starts a new one, held by the sender.

    Returns Started (its run's `conversation`); raises as start_site_run."""
    source = Run.Source.TEST if testing else Run.Source.SITE
    if conversation is None:
        conversation = new_conversation(pickaxe=pickaxe, holder=site_holder(user), source=source, message=message)
    return start_site_run(
        pickaxe=pickaxe,
        user=user,
        inputs={"message": message},
        submission_key=submission_key,
        testing=testing,
        conversation=conversation,
    )


def start_site_run(*, pickaxe, user, inputs, submission_key, testing=False, conversation=None):
    """Submit on the site (or Test in the studio): the person who presses the button pays,
    on their own OpenAI key when they are Gold and saved one (then no credit is spent).

    Returns Started; raises credits.OutOfCredits, and accounts.OwnKeyUnreadable (before
    anything is charged) when the saved own key can no longer be read: a Gold payer's run
    never falls back to credits."""
    return start_run(
        pickaxe=pickaxe,
        payer=user,
        submitted_by=user,
        source=Run.Source.TEST if testing else Run.Source.SITE,
        inputs=inputs,
        submission_key=submission_key,
        own_key=accounts.usable_own_api_key(user),
        conversation=conversation,
    )


@dataclass(frozen=True)
class Limit:
    """A limit an entry point puts on a run, as data: at most `cap` of `runs` (rows with a
    `started_at`) within `window` before now (None: ever); a cap of 0 is no limit. `reason`
    is the entry point's own name for it, handed back in LimitReached."""

    runs: QuerySet
    cap: int
    window: timedelta | None
    reason: str


class LimitReached(Exception):
    """A Limit stops the run (nothing was charged); `again_at` is when it lets one through
    again (None: not by waiting)."""

    def __init__(self, limit, again_at):
        self.limit, self.reason, self.again_at = limit, limit.reason, again_at
        super().__init__(f"{limit.reason}: limit reached until {again_at}")


def start_run(
    *,
    pickaxe,
    payer,
    source,
    inputs,
    submission_key,
    submitted_by=None,
    own_key=None,
    locks=(),
    limits=(),
    records=(),
    conversation=None,
):
    """Start a run: the one shape every entry point (site, Test, embed, API) shares.

    One short durable transaction, ended before the model is called:
    1. lock the rows in `locks` (querysets) so the limits are counted one run at a time;
    2. check each Limit (LimitReached: nothing charged);
    3. charge the payer one credit (credits.services.spend, keyed by the submission key)
       unless the run is on the payer's own key (`own_key`, Gold), and watch the balance;
    4. write the Run, and the entry point's `records` (unsaved rows with `run` and
       `started_at` fields, such as the embed's visitor row), which get this run.

    A chat's message passes its `conversation` (unsaved: a new one, saved with this first
    message; saved: the entry point has checked its holder) and `inputs` {"message": text}:
    the run takes the conversation's next position (under the conversation's row lock), and
    Started.prompt is what the model is sent (pickaxes/chat.py), read after the commit.

    A repeated submission (same payer and submission key) is answered with its first run
    (Started.created False) and charges nothing, even when a limit would now refuse it.
    Out of credits raises credits.OutOfCredits after the transaction has committed the
    ledger's "empty until" hint, so the payer's next refusal costs no lock.
    """
    refusal = None
    try:
        with transaction.atomic(durable=True):
            for rows in locks:
                list(rows.select_for_update().values_list("pk", flat=True))
            now = timezone.now()
            try:
                for limit in limits:
                    _hold(limit, now=now)
            except LimitReached:
                first = Run.objects.select_related("pickaxe").filter(payer=payer, submission_key=submission_key).first()
                if first is not None:
                    return Started(run=first, created=False)
                raise
            entry = None
            if own_key is None:
                try:
                    spent = credits.spend(payer, key=f"run:{submission_key}", note=f"run of {pickaxe.slug}")
                except credits.OutOfCredits as error:
                    refusal = error  # raised below, once the hint spend wrote has committed
                else:
                    if spent.replayed:
                        return Started(run=Run.objects.select_related("pickaxe").get(entry=spent.entry), created=False)
                    entry = spent.entry
                    _watch_balance(payer, spent=spent, pickaxe=pickaxe, source=source)
            if refusal is None:
                position = _next_position(conversation, now=now) if conversation is not None else None
                run = Run.objects.create(
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
                    conversation=conversation,
                    position=position,
                )
                for record in records:
                    record.run, record.started_at = run, now
                    record.save(force_insert=True)
    except IntegrityError:
        # The same submission was written meanwhile by another request (its Run, or an
        # entry point's record such as the API's Idempotency-Key): answer with that run.
        return first_run_of(payer, submission_key)
    if refusal is not None:
        raise refusal
    prompt = chat.prompt_for(run) if conversation is not None else None
    return Started(run=run, created=True, api_key=own_key, prompt=prompt)


def _next_position(conversation, *, now):
    """Save a new conversation, or lock an existing one and mark it updated; the place of
    its next message (1 for the first)."""
    if conversation.pk is None:
        conversation.last_position = 1
        conversation.save(force_insert=True)
        return 1
    # One statement (UPDATE … RETURNING: Django 6.1 returns a value set by an expression)
    # that locks the row, so two messages of one conversation take their places in turn.
    # A row of its own, not the caller's: that one may be shared (and is left as it was).
    counter = Conversation(pk=conversation.pk, last_position=F("last_position") + 1)
    counter.save(update_fields=["last_position", "updated_at"])
    return counter.last_position


def _hold(limit, *, now):
    """Raise LimitReached when `limit.runs` already number `limit.cap` within its window.
    Counted inside start_run's transaction, after its locks, so a limit holds exactly across
    every web process."""
    if not limit.cap:
        return
    runs = limit.runs if limit.window is None else limit.runs.filter(started_at__gt=now - limit.window)
    counted = list(runs.order_by("started_at").values_list("started_at", flat=True)[: limit.cap])
    if len(counted) >= limit.cap:
        raise LimitReached(limit, counted[0] + limit.window if limit.window else None)


def _watch_balance(payer, *, spent, pickaxe, source):
    """The low-balance alert, decided under the payer's row lock that the spend took (no
    query when nothing crossed). An embed's crossing points its owner to the usage page."""
    if source == Run.Source.EMBED:
        about, page = f"your embed of “{pickaxe.name}”", reverse("studio_usage", args=[pickaxe.slug])
    else:
        about, page = f"“{pickaxe.name}”", reverse("account")
    credits.watch_low_balance(payer, spent=spent, about=about, page=page)


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

    One UPDATE per KEEP_BATCH runs, not one per run: a process streams many runs at once
    and keeps them all every RUN_OUTPUT_KEPT_EVERY_SECONDS (pickaxes/running.py), so 1,000
    open streams cost one database step a second instead of 1,000 (each with its own
    commit). A run already closed is left as it is."""
    now = timezone.now()
    items = list(runs.items())
    for at in range(0, len(items), KEEP_BATCH):
        batch = items[at : at + KEEP_BATCH]
        outputs = [(run, output) for run, output in batch if output is not None]
        changes = {"lease_until": now + lease()}
        if outputs:
            for run, output in outputs:
                run.output, run.first_output_at = output, run.first_output_at or now
            changes["output"] = Case(
                *(When(pk=run.pk, then=Value(output)) for run, output in outputs),
                default=F("output"),
                output_field=Run._meta.get_field("output"),
            )
            changes["first_output_at"] = Coalesce(
                F("first_output_at"), Case(When(pk__in=[run.pk for run, _ in outputs], then=Value(now)))
            )
        Run.objects.filter(status=Status.RUNNING, pk__in=[run.pk for run, _ in batch]).update(**changes)


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
    True if it was still running."""
    return Run.objects.filter(pk=run_id, status=Status.RUNNING).update(**done) == 1


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


def count_runs():
    """Bring each pickaxe's `runs_count` (what browse and the studio show, and what
    "popular" sorts by) up to date with its runs, for the pickaxes that have run since they
    were last counted. Returns how many were counted.

    Run by the same schedule as the sweep (`manage.py close_stale_runs`), never by a run:
    a count the run itself kept would make every run of a popular pickaxe queue on that
    pickaxe's row lock until its COMMIT. The count lags by at most the schedule's period."""
    ran_since_counted = Run.objects.filter(pickaxe=OuterRef("pk"), started_at__gte=OuterRef("runs_counted_at"))
    due = Pickaxe.objects.filter(Q(runs_counted_at__isnull=True) | Exists(ran_since_counted))
    counted = 0
    for pickaxe_id in due.values_list("pk", flat=True).iterator():
        now = timezone.now()
        Pickaxe.objects.filter(pk=pickaxe_id).update(
            runs_count=Run.objects.filter(pickaxe_id=pickaxe_id).count(), runs_counted_at=now
        )
        counted += 1
    return counted


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
