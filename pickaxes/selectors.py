"""Reads for pickaxes: browsing, the studio, run history and usage."""

import dataclasses
import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Prefetch, Q
from django.db.models.functions import TruncDate
from django.http import Http404
from django.utils import timezone

from credits import selectors as credit_selectors
from pickaxes.models import InputField, Pickaxe, Run

Visibility = Pickaxe.Visibility
ORDERINGS = {"newest": ["-created_at", "-id"], "popular": ["-runs_count", "-created_at"]}


def public_pickaxes(*, query="", order="newest"):
    pickaxes = Pickaxe.objects.filter(visibility=Visibility.PUBLIC).select_related("owner")
    if query:
        pickaxes = pickaxes.filter(Q(name__icontains=query) | Q(description__icontains=query))
    return pickaxes.order_by(*ORDERINGS.get(order, ORDERINGS["newest"]))


def pickaxe_for_page(slug, user):
    """A pickaxe whoever asks may see (public, unlisted, or their own), with its fields."""
    try:
        pickaxe = (
            Pickaxe.objects.select_related("owner")
            .prefetch_related(Prefetch("fields", queryset=InputField.objects.order_by("position", "id")))
            .get(slug=slug)
        )
    except Pickaxe.DoesNotExist:
        raise Http404("No such pickaxe.") from None
    if pickaxe.visibility == Visibility.PRIVATE and pickaxe.owner_id != getattr(user, "pk", None):
        raise Http404("No such pickaxe.")
    return pickaxe


def owned_pickaxe(slug, owner):
    try:
        return Pickaxe.objects.prefetch_related("fields").get(slug=slug, owner=owner)
    except Pickaxe.DoesNotExist:
        raise Http404("No such pickaxe in your studio.") from None


def studio_pickaxes(owner):
    return Pickaxe.objects.filter(owner=owner).order_by("-updated_at")


def recent_runs(user, *, limit=20):
    """Runs the user paid for, newest first, with their pickaxe."""
    return list(Run.objects.filter(payer=user).select_related("pickaxe").order_by("-started_at", "-id")[:limit])


def run_for(user, run_id):
    """One run, for the person who paid for it or pressed the button; 404 for anyone else."""
    run = Run.objects.select_related("pickaxe").filter(Q(payer=user) | Q(submitted_by=user), pk=run_id).first()
    if run is None:
        raise Http404("No such run.")
    return run


def runs_per_day(pickaxe, *, days=30, now=None):
    """[(day, site runs, test runs, embed runs, API runs)] for the last `days` days, zeros included."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    first = today - timedelta(days=days - 1)
    rows = (
        Run.objects.filter(pickaxe=pickaxe, started_at__date__gte=first)
        .annotate(day=TruncDate("started_at"))
        .values("day", "source")
        .annotate(count=Count("id"))
    )
    counts = {(row["day"], row["source"]): row["count"] for row in rows}
    return [
        (day, *(counts.get((day, source), 0) for source in Run.Source.values))
        for day in (first + timedelta(days=offset) for offset in range(days))
    ]


def usage_totals(pickaxe, *, days=30, now=None):
    now = now or timezone.now()
    since = now - timedelta(days=days)
    return Run.objects.filter(pickaxe=pickaxe, started_at__gte=since).aggregate(
        runs=Count("id"),
        succeeded=Count("id", filter=Q(status=Run.Status.SUCCEEDED)),
        failed=Count("id", filter=Q(status=Run.Status.FAILED)),
        refunded=Count("id", filter=Q(refunded=True)),
        embed_runs=Count("id", filter=Q(source=Run.Source.EMBED)),
        api_runs=Count("id", filter=Q(source=Run.Source.API)),
    )


EXPORT_COLUMNS = [
    "started_at",
    "source",
    "status",
    "payer",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "refunded",
]


def runs_to_export(pickaxe, *, days=30, now=None):
    """The runs the usage export lists: the last `days` days', oldest first."""
    now = now or timezone.now()
    return Run.objects.filter(pickaxe=pickaxe, started_at__gte=now - timedelta(days=days)).order_by("started_at")


def runs_for_export(pickaxe, *, days=30, now=None):
    """The usage export's rows (EXPORT_COLUMNS) for the last `days` days."""
    for run in runs_to_export(pickaxe, days=days, now=now).iterator():
        yield export_row(pickaxe, run)


def export_row(pickaxe, run):
    """One run as the export's EXPORT_COLUMNS.

    A creator sees no one's email, here as on the usage page: each payer is a pseudonym,
    the same for every run of theirs on this pickaxe. Every cell is spreadsheet-safe."""
    row = [
        run.started_at.isoformat(),
        run.source,
        run.status,
        payer_pseudonym(pickaxe, run.payer_id),
        run.model,
        run.prompt_tokens,
        run.completion_tokens,
        run.latency_ms,
        run.refunded,
    ]
    return [spreadsheet_safe(cell) for cell in row]


def payer_pseudonym(pickaxe, payer_id):
    """A stable id for a payer in one pickaxe's export that says nothing about who it is
    (keyed by SECRET_KEY, and per pickaxe so two creators cannot match their payers)."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"payer:{pickaxe.pk}:{payer_id}".encode(), hashlib.sha256)
    return f"payer-{digest.hexdigest()[:12]}"


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell):
    """Text that a spreadsheet would read as a formula is prefixed with ' so it stays text."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


@dataclass(frozen=True)
class EmbedCredits:
    """The owner's credits as one embed spends them: what it spent over the last days, the
    owner's balance and its days ahead at the embed's pace and at the owner's whole pace,
    and the banner of a crossing that a run of this embed caused."""

    spent: int
    days: int
    status: object  # credits.selectors.SpendingStatus
    forecast: object  # credits.forecast.Forecast, at the owner's whole pace
    embed_forecast: object  # the same at this embed's pace alone
    alert: object = None  # credits.models.LowBalanceAlert

    @property
    def pace_per_day(self):
        return self.spent / self.days


def embed_credits(pickaxe, *, now=None):
    """EmbedCredits for the usage page: a fixed number of queries."""
    now = now or timezone.now()
    owner = pickaxe.owner
    days = credit_selectors.PACE_DAYS
    spent = Run.objects.filter(
        pickaxe=pickaxe,
        source=Run.Source.EMBED,
        entry__isnull=False,
        refunded=False,
        started_at__gt=now - timedelta(days=days),
    ).count()
    status = credit_selectors.spending_status(owner, now=now)
    ahead = credit_selectors.forecast(owner, now=now, balance_now=status.balance, threshold=status.threshold)
    alert = credit_selectors.current_low_balance_alert(owner, status=status)
    if (
        alert is not None
        and not Run.objects.filter(entry_id=alert.entry_id, pickaxe=pickaxe, source=Run.Source.EMBED).exists()
    ):
        alert = None
    return EmbedCredits(
        spent=spent,
        days=days,
        status=status,
        forecast=ahead,
        embed_forecast=dataclasses.replace(ahead, pace_per_day=spent / days),
        alert=alert,
    )
