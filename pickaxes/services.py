"""Writes for pickaxes: saving a pickaxe, and a run's life (start, finish, fail, sweep).

The charge is written when a run starts, in the same transaction as the Run row and
keyed by the form's submission key, so a repeated post charges once. A failure before
any output refunds at once; a run that produced output stays charged.
"""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from credits import selectors as credit_selectors
from credits import services as credits
from pickaxes.models import PLACEHOLDER, Pickaxe, Run

Status = Run.Status


def render_prompt(template, values):
    """Put the inputs into the template by plain substitution, in one pass.

    Inputs are never evaluated: `{{x}}` or `{% tag %}` typed by a user stays literal text.
    """
    return PLACEHOLDER.sub(lambda match: str(values.get(match.group(1), "")), template)


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
            "The field" + ("s " if len(unused) > 1 else " ") + ", ".join(unused)
            + (" are" if len(unused) > 1 else " is") + " not used in the template."
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


class RunRefused(Exception):
    """The payer is out of credits; nothing was called or charged."""

    def __init__(self, next_return_at):
        self.next_return_at = next_return_at
        super().__init__("Out of credits.")


class RunNotAllowed(Exception):
    """A rule of the place the run starts from (an embed's limits) refuses it; `message`
    is for the person who pressed the button."""

    def __init__(self, message):
        self.message = message
        super().__init__(message)


def start_run(
    *, pickaxe, payer, submitted_by, inputs, submission_key, source, own_key=False,
    visitor_id="", visitor_ip="", guard=None,
):
    """Charge the payer one credit and open the Run, in one transaction.

    Returns (run, created). The same submission key returns the first run uncharged.
    A run on the payer's own key (Gold) spends nothing. `guard()`, when given, runs
    first inside the transaction and may raise RunNotAllowed (embed limits). Raises
    RunRefused when the payer has nothing to spend.
    """
    with transaction.atomic():
        earlier = Run.objects.filter(payer=payer, submission_key=submission_key).first()
        if earlier:
            return earlier, False
        if guard:
            guard()
        entry = None
        if not own_key:
            try:
                entry = credits.spend(payer, key=f"run:{submission_key}", note=f"run of {pickaxe.slug}")
            except credits.OutOfCredits as refused:
                raise RunRefused(refused.next_return_at) from None
        try:
            with transaction.atomic():
                run = Run.objects.create(
                    pickaxe=pickaxe,
                    payer=payer,
                    submitted_by=submitted_by,
                    source=source,
                    submission_key=submission_key,
                    inputs=inputs,
                    model=pickaxe.model,
                    entry=entry,
                    own_key=own_key,
                    visitor_id=visitor_id,
                    visitor_ip=visitor_ip,
                    started_at=timezone.now(),
                )
        except IntegrityError:  # the same own-key submission posted twice at once
            return Run.objects.get(payer=payer, submission_key=submission_key), False
        Pickaxe.objects.filter(pk=pickaxe.pk).update(runs_count=F("runs_count") + 1)
    return run, True


def mark_output_started(run):
    """The model produced output: from now on the run stays charged whatever happens."""
    Run.objects.filter(pk=run.pk, first_output_at__isnull=True).update(first_output_at=timezone.now())


def finish_run(run, *, output, model, prompt_tokens, completion_tokens):
    """Record a run that completed."""
    _close(run, status=Status.SUCCEEDED, output=output, model=model,
           prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def fail_run(run, *, error, output=""):
    """Record a failed run. Before any output the credit comes back at once."""
    _close(run, status=Status.FAILED, error=error[:300], output=output)


def _close(run, *, status, output="", error="", model=None, prompt_tokens=None, completion_tokens=None):
    now = timezone.now()
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.status != Status.RUNNING:
            return  # already closed (by the sweep, or twice)
        locked.status = status
        locked.output = output
        locked.error = error
        locked.model = model or locked.model
        locked.prompt_tokens = prompt_tokens
        locked.completion_tokens = completion_tokens
        locked.finished_at = now
        locked.latency_ms = int((now - locked.started_at).total_seconds() * 1000)
        if status == Status.FAILED and not output and not locked.first_output_at and locked.entry_id:
            try:
                credits.refund(locked.entry, note="run failed before any output")
                locked.refunded = True
            except credits.AlreadyRefunded:
                locked.refunded = True
        locked.save()
    run.refresh_from_db()


def close_stale_runs(*, payer=None):
    """Close runs still "running" past RUN_STALE_AFTER_SECONDS (their worker died).

    For the schedule (`manage.py close_stale_runs`) and before a payer's balance is read.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.RUN_STALE_AFTER_SECONDS)
    stale = Run.objects.filter(status=Status.RUNNING, started_at__lt=cutoff)
    if payer is not None:
        stale = stale.filter(payer=payer)
    closed = 0
    for run in stale.only("pk"):
        fail_run(run, error="The run stopped without finishing.")
        closed += 1
    return closed


def current_balance(user):
    """The credits the user can spend now, after closing any of their runs left running
    by a dead worker (so their refunds count)."""
    close_stale_runs(payer=user)
    return credit_selectors.available(user)


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
