"""Reads for pickaxes: browsing, the studio, run history and usage."""

import dataclasses
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from credits import selectors as credit_selectors
from pickaxes import chat, llm
from pickaxes.models import Conversation, Pickaxe, Run
from pickaxes.output import render_output

Visibility = Pickaxe.Visibility
ORDERINGS = {"newest": ["-created_at", "-id"], "popular": ["-runs_count", "-created_at"]}


def public_pickaxes(*, query="", order="newest"):
    pickaxes = Pickaxe.objects.filter(visibility=Visibility.PUBLIC).select_related("owner")
    if query:
        pickaxes = pickaxes.filter(Q(name__icontains=query) | Q(description__icontains=query))
    return pickaxes.order_by(*ORDERINGS.get(order, ORDERINGS["newest"]))


def pickaxe_for_page(slug, user):
    """A pickaxe whoever asks may see (public, unlisted, or their own), with its owner
    and fields: the pickaxe's page."""
    try:
        pickaxe = Pickaxe.objects.select_related("owner").prefetch_related("fields").get(slug=slug)
    except Pickaxe.DoesNotExist:
        raise Http404("No such pickaxe.") from None
    return _visible(pickaxe, user)


def pickaxe_for_run(slug, user):
    """As pickaxe_for_page, for a run: the pickaxe, without its owner. A form's fields are
    read when its form is made (`input_fields`, one query); a chat has none to read."""
    try:
        pickaxe = Pickaxe.objects.get(slug=slug)
    except Pickaxe.DoesNotExist:
        raise Http404("No such pickaxe.") from None
    return _visible(pickaxe, user)


def _visible(pickaxe, user):
    if pickaxe.visibility == Visibility.PRIVATE and pickaxe.owner_id != getattr(user, "pk", None):
        raise Http404("No such pickaxe.")
    return pickaxe


PICKAXE_PATH = re.compile(r"^/p/(?P<slug>[-a-zA-Z0-9_]+)/")


def pickaxe_named_in(next_url):
    """The public or unlisted pickaxe whose page (or run) a log-in's `next` address is, e.g.
    "/p/cold-email/"; None for any other address."""
    parts = urlsplit(next_url or "")
    match = PICKAXE_PATH.match(parts.path)
    if match is None or parts.scheme or parts.netloc:
        return None
    visible = (Visibility.PUBLIC, Visibility.UNLISTED)
    return Pickaxe.objects.filter(slug=match["slug"], visibility__in=visible).only("name", "slug").first()


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


def _runs_seen_by(user):
    """The runs a person may open: those they paid for or pressed the button of."""
    return Run.objects.filter(Q(payer=user) | Q(submitted_by=user))


def run_history(user):
    """The runs a person may open, newest first, with their pickaxe and its fields (to
    label the inputs): three queries per page, whatever the page holds. The messages of
    their own chats (site, Test) are listed as conversations instead (conversation_history)."""
    return _openable_runs(user).exclude(conversation__isnull=False, source__in=[Run.Source.SITE, Run.Source.TEST])


def _openable_runs(user):
    return (
        _runs_seen_by(user).select_related("pickaxe").prefetch_related("pickaxe__fields").order_by("-started_at", "-id")
    )


@dataclass(frozen=True)
class ConversationRow:
    """One of a person's conversations in their history: how many messages it has, how
    many credits they spent, and the page that shows it and continues it."""

    conversation: Conversation
    messages: int
    credits: int

    @property
    def url(self):
        return conversation_url(self.conversation)


def conversation_url(conversation):
    """The page that shows a site or Test conversation and continues it."""
    pickaxe = conversation.pickaxe
    if conversation.source == Run.Source.TEST:
        return f"{reverse('studio_edit', args=[pickaxe.slug])}?c={conversation.public_id}#test"
    return f"{pickaxe.get_absolute_url()}?c={conversation.public_id}"


def conversation_of_run(user, run):
    """The page of the conversation a chat message belongs to, when `user` holds it; else ""."""
    if not run.conversation_id:
        return ""
    conversation = Conversation.objects.filter(pk=run.conversation_id, holder=chat.site_holder(user)).first()
    if conversation is None:
        return ""
    conversation.pickaxe = run.pickaxe
    return conversation_url(conversation)


def conversation_history_page(user, *, page=None, per_page=10):
    """A page of the person's own conversations (site and Test), last active first, as
    ConversationRow: two queries, whatever the page holds."""
    conversations = (
        Conversation.objects.filter(holder=chat.site_holder(user))
        .select_related("pickaxe")
        .annotate(
            message_count=Count("messages"),
            credits_spent=Count("messages", filter=Q(messages__entry__isnull=False, messages__refunded=False)),
        )
        .order_by("-updated_at", "-id")
    )
    paged = Paginator(conversations, per_page).get_page(page)
    paged.object_list = [
        ConversationRow(conversation=row, messages=row.message_count, credits=row.credits_spent)
        for row in paged.object_list
    ]
    return paged


def run_history_page(user, *, page=None, per_page=25):
    """A page of the person's runs, each with `labelled` inputs ([(label, value)])."""
    paged = Paginator(run_history(user), per_page).get_page(page)
    for run in paged.object_list:
        run.labelled = labelled_inputs(run)
    return paged


def run_for(user, run_id):
    """One run, for the person who paid for it or pressed the button; 404 for anyone else."""
    run = _openable_runs(user).filter(pk=run_id).first()
    if run is None:
        raise Http404("No such run.")
    return run


def labelled_inputs(run):
    """[(label, value)] of a run's inputs, in the order of the pickaxe's fields; a key
    whose field has since been removed keeps its key as its label."""
    if run.conversation_id:
        return [("Message", chat.message_text(run.inputs))]
    labels = {field.key: field.label for field in run.pickaxe.input_fields}
    order = list(labels)
    keys = sorted(run.inputs, key=lambda key: order.index(key) if key in labels else len(order))
    return [(labels.get(key, key), run.inputs[key]) for key in keys]


def inputs_to_run_again(user, run_id, pickaxe):
    """The inputs of one of the person's runs of this pickaxe, to fill its form again;
    None when there is no such run (another person's, another pickaxe's, a bad id)."""
    try:
        run_id = int(run_id)
    except (TypeError, ValueError):
        return None
    if not getattr(user, "is_authenticated", False):
        return None
    inputs = _runs_seen_by(user).filter(pk=run_id, pickaxe=pickaxe).values_list("inputs", flat=True).first()
    return inputs if isinstance(inputs, dict) else None


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


@dataclass(frozen=True)
class UsageRun:
    """One run as its pickaxe's owner sees it on the usage page: who ran it is a pseudonym,
    unless it was the owner ("you"); only the owner's own runs can be opened."""

    run: Run
    who: str
    yours: bool


def usage_runs(pickaxe, *, page=None, per_page=25):
    """A page of the pickaxe's runs, newest first, for its owner: one count and one
    query, whatever the page holds; no one else's identity."""
    runs = Run.objects.filter(pickaxe=pickaxe).only(
        "id", "pickaxe_id", "payer_id", "submitted_by_id", "source", "status", "refunded", "own_key", "started_at"
    )
    paged = Paginator(runs.order_by("-started_at", "-id"), per_page).get_page(page)
    paged.object_list = [
        UsageRun(run=run, who=_who_ran(pickaxe, run), yours=pickaxe.owner_id in (run.payer_id, run.submitted_by_id))
        for run in paged.object_list
    ]
    return paged


def _who_ran(pickaxe, run):
    if run.submitted_by_id == pickaxe.owner_id:
        return "you"
    if run.source == Run.Source.EMBED:
        return "an embed visitor"
    return payer_pseudonym(pickaxe, run.payer_id)


def run_data(run_id):
    """A run as data (the run API's answer), read fresh, with its payer's balance now."""
    run = Run.objects.select_related("pickaxe", "payer").get(pk=run_id)
    return {
        "id": run.pk,
        "pickaxe": run.pickaxe.slug,
        "status": run.status,
        "output": run.output,
        "error": run.error,
        "refunded": run.refunded,
        "usage": {
            "credits_charged": 1 if run.entry_id and not run.refunded else 0,
            "balance": credit_selectors.available(run.payer),
            "next_return_at": credit_selectors.next_return(run.payer),
        },
        "created_at": run.started_at,
        "finished_at": run.finished_at,
    }


def conversation_for(public_id, holder, *, pickaxe=None):
    """The conversation with this public id, for its holder only (and of `pickaxe`, when
    given); Http404 for anyone else's, a bad id or another pickaxe's: never a hint that it
    exists."""
    conversation = (
        Conversation.objects.filter(public_id=str(public_id or "")[:32], holder=holder)
        .filter(**({"pickaxe": pickaxe} if pickaxe is not None else {}))
        .select_related("pickaxe")
        .first()
    )
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation as its page shows it: what was sent, and its answer
    (or why there is none). `remembered` False: the model is no longer sent it."""

    run_id: int
    position: int
    text: str
    answer_html: str
    status: str
    error: str
    refunded: bool
    charged: bool
    demo: bool
    notice: str
    remembered: bool
    retryable: bool = False  # not answered, and nothing sent after it: offered again

    @property
    def answered(self):
        return self.status == Run.Status.SUCCEEDED

    @property
    def not_answered(self):
        """Failed before any output: not charged, and offered again (Retry)."""
        return self.status == Run.Status.FAILED and not self.answer_html


@dataclass(frozen=True)
class ChatView:
    """A conversation's page: its messages in order; `forgotten` of the earliest are no
    longer sent to the model (the page says so)."""

    conversation: Conversation | None
    messages: list
    forgotten: int = 0

    @property
    def public_id(self):
        return self.conversation.public_id if self.conversation else ""


def chat_view(conversation):
    """ChatView of a conversation (None: a new one): one query, whatever its length."""
    if conversation is None:
        return ChatView(conversation=None, messages=[])
    runs = list(
        conversation.messages.order_by("position").only(
            "id",
            "position",
            "inputs",
            "output",
            "status",
            "error",
            "refunded",
            "entry_id",
            "own_key",
            "model",
            "finish_reason",
            "conversation_id",
        )
    )
    answered = [(chat.message_text(run.inputs), run.output) for run in reversed(runs) if run.output]
    kept = chat.fitting(pickaxe=conversation.pickaxe, earlier=answered, message="")
    forgotten_ids = {run.pk for run in [r for r in reversed(runs) if r.output][kept:]}
    messages = [
        ChatMessage(
            run_id=run.pk,
            position=run.position,
            text=chat.message_text(run.inputs),
            answer_html=render_output(run.output) if run.output else "",
            status=run.status,
            error=run.error,
            refunded=run.refunded,
            charged=bool(run.entry_id) and not run.refunded,
            demo=run.model == llm.DEMO_LABEL,
            notice="Stopped at the length limit." if run.finish_reason == "length" else "",
            remembered=run.pk not in forgotten_ids,
            retryable=run is runs[-1] and run.status == Run.Status.FAILED and not run.output,
        )
        for run in runs
    ]
    return ChatView(conversation=conversation, messages=messages, forgotten=len(forgotten_ids))
