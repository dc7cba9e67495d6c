"""The account page's activity: every change to the balance, newest first, with the run
behind each. Credits knows the entries and pickaxes the runs; the list needs both, so it
is put together here (pickaxes may read credits, never the other way round).

A fixed number of queries per page, whatever the history: the page of (moment, id)
pairs (the ledger's entries and the runs on an own key, which spend nothing but are runs
all the same), their count, then the entries, their runs and the own-key runs by id.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import CharField, F, Value
from django.template.defaultfilters import date as format_date
from django.urls import reverse
from django.utils import timezone

from credits import selectors as credit_selectors
from credits.models import Entry
from pickaxes.models import Run

Kind = Entry.Kind
Cause = Entry.Cause
PER_PAGE = 10


@dataclass(frozen=True)
class Line:
    """One change of the balance, as the user reads it."""

    at: datetime
    title: str
    detail: str = ""
    amount: int = 0  # signed credits; 0 for a run on an own key
    unit: str = "credit"  # "credit", or "allowance" for a change of what the plan gives
    state: str = ""  # charged, refunded, own-key, cut-off, running, bonus, deduction, plan
    url: str = ""  # the run's page, when there is one

    @property
    def amount_text(self):
        if self.unit == "allowance":
            return f"{self.amount:+d} allowance".replace("-", "−")
        if not self.amount:
            return "no credit"
        return f"{self.amount:+d}".replace("-", "−")


def activity_page(user, *, page=None):
    """A Django Page of Line, newest first."""
    entries = (
        credit_selectors.ledger_of(user)
        .annotate(at=F("created_at"), row_kind=Value("entry", output_field=CharField()))
        .values_list("at", "id", "row_kind")
        .order_by()
    )
    own_key_runs = (
        Run.objects.filter(payer=user, entry__isnull=True)
        .annotate(at=F("started_at"), row_kind=Value("run", output_field=CharField()))
        .values_list("at", "id", "row_kind")
        .order_by()
    )
    rows = entries.union(own_key_runs, all=True).order_by("-at", "-id")
    page = Paginator(rows, PER_PAGE).get_page(page)
    page.object_list = _lines(user, list(page.object_list))
    return page


def _lines(user, rows):
    entry_ids = [pk for _, pk, source in rows if source == "entry"]
    run_ids = [pk for _, pk, source in rows if source == "run"]
    entries = {entry.pk: entry for entry in Entry.objects.filter(pk__in=entry_ids).select_related("refund_of")}
    uses = set(entry_ids) | {entry.refund_of_id for entry in entries.values() if entry.refund_of_id}
    runs = Run.objects.filter(entry_id__in=uses) if uses else Run.objects.none()
    run_of = {run.entry_id: run for run in runs.select_related("pickaxe")}
    own_key = {run.pk: run for run in Run.objects.filter(pk__in=run_ids).select_related("pickaxe")} if run_ids else {}
    allowance_after = _allowance_after(user, entries.values())
    lines = []
    for _, pk, source in rows:
        if source == "run":
            lines.append(_own_key_line(own_key[pk]))
        else:
            entry = entries[pk]
            lines.append(_entry_line(entry, run_of=run_of, allowance_after=allowance_after))
    return lines


def _allowance_after(user, entries):
    """{allowance entry id: the allowance once it was written}, when the page has any (one query)."""
    if not any(entry.kind == Kind.ALLOWANCE for entry in entries):
        return {}
    totals, total = {}, 0
    for pk, amount in credit_selectors.allowance_history(user):
        total += amount
        totals[pk] = total
    return totals


def _day(moment):
    return format_date(timezone.localtime(moment), "j M")


def _run_line(run, entry):
    source = {Run.Source.TEST: "Test in the studio: ", Run.Source.EMBED: "Embed: "}.get(run.source, "")
    if run.status == Run.Status.RUNNING:
        state, detail = "running", "running"
    elif run.refunded and run.status == Run.Status.FAILED:
        state, detail = "refunded", "failed before any output: not charged (the credit came back)"
    elif run.refunded:
        state, detail = "refunded", "refunded: not charged (the credit came back)"
    elif run.status == Run.Status.FAILED:
        state, detail = "cut-off", "cut off: charged, the output so far is kept"
    elif run.finish_reason == "length":
        state, detail = "cut-off", "stopped at the length limit: charged"
    else:
        state, detail = "charged", "charged"
    if run.source == Run.Source.EMBED:
        detail = f"a visitor's run, {detail}"
    if run.conversation_id:
        detail = f"a chat message, {detail}"
    return Line(
        at=entry.created_at,
        title=f"{source}{run.pickaxe.name}",
        detail=f"{detail} · back on {_day(entry.expires_at)}" if state in ("charged", "cut-off") else detail,
        amount=entry.amount,
        state=state,
        url=reverse("run_detail", args=[run.pk]) if run.source != Run.Source.EMBED else "",
    )


def _own_key_line(run):
    status = {Run.Status.RUNNING: "running", Run.Status.FAILED: "failed"}.get(run.status, "done")
    return Line(
        at=run.started_at,
        title=run.pickaxe.name,
        detail=f"on your own OpenAI key: no credit ({status})",
        state="own-key",
        url=reverse("run_detail", args=[run.pk]),
    )


def _entry_line(entry, *, run_of, allowance_after):
    kind, note = entry.kind, entry.user_note
    if kind == Kind.USE:
        run = run_of.get(entry.pk)
        if run is not None:
            return _run_line(run, entry)
        return Line(at=entry.created_at, title="Credit used", detail=f"back on {_day(entry.expires_at)}", amount=-1)
    if kind == Kind.REFUND:
        run = run_of.get(entry.refund_of_id)
        if note or entry.cause == Cause.STAFF:
            detail = note or "given back by the Pickaxe team"
            if run is not None:
                detail = f"{run.pickaxe.name}: {detail}"
        elif run is not None:
            detail = f"{run.pickaxe.name}: the run failed before any output"
        else:
            detail = "given back"
        title = "Deduction given back" if entry.refund_of and entry.refund_of.kind == Kind.DEDUCTION else "Credit back"
        return Line(at=entry.created_at, title=title, detail=detail, amount=entry.amount, state="refunded")
    if kind == Kind.BONUS:
        return Line(
            at=entry.created_at,
            title="Bonus credits",
            detail=f"{note or 'from the Pickaxe team'} · until {_day(entry.expires_at)}",
            amount=entry.amount,
            state="bonus",
        )
    if kind == Kind.DEDUCTION:
        return Line(
            at=entry.created_at,
            title="Credits deducted",
            detail=f"{note or 'by the Pickaxe team'} · back on {_day(entry.expires_at)}",
            amount=entry.amount,
            state="deduction",
        )
    now_allowed = allowance_after.get(entry.pk)
    allowed = (
        f"{now_allowed:,} credits, each back {settings.CREDIT_REPLENISH_DAYS} days after use"
        if now_allowed is not None
        else ""
    )
    if entry.staff_id:
        title, detail = "Allowance changed for good", " · ".join(filter(None, [note or "by the Pickaxe team", allowed]))
    elif entry.cause == Cause.SIGNUP:
        title, detail = "Free plan", allowed
    else:
        title, detail = (f"Plan: {note}" if note else "Plan changed"), allowed
    return Line(at=entry.created_at, title=title, detail=detail, amount=entry.amount, unit="allowance", state="plan")
