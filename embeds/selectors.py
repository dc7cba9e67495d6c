"""Reads for embeds and the public run API."""

import json
import re
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Exists, Max, OuterRef, Q, Sum
from django.db.models.functions import TruncDate
from django.http import Http404
from django.utils import timezone

from embeds.models import ApiKey, ApiRun, Embed, RefusedRuns, RetiredToken, api_holder, embed_holder, hash_secret
from pickaxes import charts, chat, llm
from pickaxes import selectors as pickaxe_selectors
from pickaxes.forms import sample_inputs
from pickaxes.models import Conversation, Pickaxe, Run
from pickaxes.output import render_output


def visitor_count(embed, *, days=30, now=None):
    """Distinct visitors who ran the embed in the last `days` days."""
    since = (now or timezone.now()) - timedelta(days=days)
    return embed.runs.filter(started_at__gte=since).values("visitor_id").distinct().count()


def visitors_per_day(embed, *, days=30, now=None):
    """[(day, distinct visitors who ran the embed that day)] for the last `days` days,
    zeros included: one query."""
    today = timezone.localdate(now or timezone.now())
    first = today - timedelta(days=days - 1)
    rows = (
        embed.runs.filter(started_at__date__gte=first)
        .annotate(day=TruncDate("started_at"))
        .values("day")
        .annotate(visitors=Count("visitor_id", distinct=True))
    )
    counts = {row["day"]: row["visitors"] for row in rows}
    return [(day, counts.get(day, 0)) for day in (first + timedelta(days=offset) for offset in range(days))]


def refused_by_reason(embed, *, days=30, now=None):
    """[(reason, its label, runs refused)] in the last `days` days, every reason listed: one query."""
    first = timezone.localdate(now or timezone.now()) - timedelta(days=days - 1)
    rows = embed.refused.filter(day__gte=first).values("reason").annotate(refused=Sum("count"))
    counts = {row["reason"]: row["refused"] for row in rows}
    return [(reason, label, counts.get(reason, 0)) for reason, label in RefusedRuns.Reason.choices]


def embed_of_retired_token(token):
    """The embed that had `token` as an old address it still remembers; else None."""
    retired = RetiredToken.objects.select_related("embed").filter(token=token).first()
    return retired.embed if retired else None


@dataclass(frozen=True)
class RefusedSites:
    """The websites refused the embed lately: named ones as [(host, refusals)], the most
    refused first, and the refusals of pages that sent no address (`hidden`)."""

    hosts: list
    hidden: int = 0

    def __bool__(self):
        return bool(self.hosts or self.hidden)


def refused_hosts(embed, *, days=7, now=None, limit=20):
    """RefusedSites of the last `days` days: one query, at most `limit` + 1 rows."""
    first = timezone.localdate(now or timezone.now()) - timedelta(days=days - 1)
    rows = (
        embed.refused_hosts.filter(day__gte=first)
        .values("host")
        .annotate(refusals=Sum("count"))
        .order_by("-refusals", "host")[: limit + 1]
    )
    counts = [(row["host"], row["refusals"]) for row in rows]
    hidden = sum(refusals for host, refusals in counts if not host)
    return RefusedSites(hosts=[(host, refusals) for host, refusals in counts if host][:limit], hidden=hidden)


def usage_insight(pickaxe, *, now=None):
    """The embed's part of its pickaxe's usage page; None for a pickaxe never embedded."""
    embed = Embed.objects.filter(pickaxe=pickaxe).first()
    if embed is None:
        return None
    visitors = visitors_per_day(embed, now=now)
    refused = refused_by_reason(embed, now=now)
    return {
        "embed": embed,
        "visitors": visitors,
        # Drawn as the usage chart's embed bars: one bar a day, its height the visitors.
        "visitors_chart": charts.usage_chart(
            [
                (day, *(count if source == Run.Source.EMBED else 0 for source in Run.Source.values))
                for day, count in visitors
            ]
        ),
        "visitor_total": visitor_count(embed, now=now),
        "refused": refused,
        "refused_total": sum(count for _, _, count in refused),
    }


# Chats in an embed: the visitor's conversation and what its page shows.

CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The most messages sent (with their answers) an embed's page shows of a conversation.
CHAT_MESSAGES_SHOWN = 50


def latest_embed_conversation(embed, visitor_id):
    """The visitor's most recent conversation with the embed's pickaxe, or None: what
    the embed shows again when the visitor comes back (one indexed query)."""
    return (
        Conversation.objects.filter(holder=embed_holder(embed, visitor_id), pickaxe_id=embed.pickaxe_id)
        .order_by("-updated_at", "-id")
        .first()
    )


def visitor_conversation(embed, visitor_id, public_id):
    """The conversation `public_id` if it is this visitor's, with this embed's pickaxe;
    Http404 for any other (another visitor's, another embed's, a made-up id)."""
    if not CONVERSATION_ID.match(public_id or ""):
        raise Http404("No such conversation.")
    return pickaxe_selectors.conversation_for(public_id, embed_holder(embed, visitor_id), pickaxe=embed.pickaxe)


@dataclass(frozen=True)
class ChatMessage:
    """One message sent in a conversation, as its page shows it: the text, the answer as
    safe HTML, whether it went unanswered (failed before any output: not charged), and
    whether Retry is offered (the last message, unanswered)."""

    text: str
    answer_html: str
    not_answered: bool
    demo: bool
    retryable: bool = False
    running: bool = False  # still being answered (the page was reloaded meanwhile)


@dataclass(frozen=True)
class EmbedChat:
    """A chat embed's page: the conversation's id (empty: a new one), its messages (the
    last CHAT_MESSAGES_SHOWN, oldest first; `earlier` when older ones are not shown), how
    many of its answered messages the model is no longer sent (`forgotten`: the page says
    so), the starters while nothing has been sent, and the message being sent (`sending`)
    whose answer is the page's `result`."""

    conversation: str
    messages: list
    starters: list
    earlier: bool = False
    forgotten: bool = False
    sending: str = ""


def embed_chat(embed, conversation, *, sending="", before=None):
    """EmbedChat of `conversation` (None: a new one): its messages before the run `before`
    when one is being sent (all of them otherwise). One query."""
    messages, earlier, forgotten = [], False, False
    if conversation is not None and conversation.pk:
        runs = Run.objects.filter(conversation=conversation)
        if before is not None:
            runs = runs.filter(position__lt=before.position)
        rows = list(
            runs.only("inputs", "output", "status", "model", "position").order_by("-position")[
                : CHAT_MESSAGES_SHOWN + 1
            ]
        )
        earlier = len(rows) > CHAT_MESSAGES_SHOWN
        answered = [(chat.message_text(run.inputs), run.output) for run in rows if run.output]
        forgotten = chat.fitting(pickaxe=embed.pickaxe, earlier=answered, message="") < len(answered)
        shown = rows[:CHAT_MESSAGES_SHOWN]
        messages = [_chat_message(run, last=run is shown[0] and not sending) for run in reversed(shown)]
    return EmbedChat(
        conversation=conversation.public_id if conversation is not None and conversation.pk else "",
        messages=messages,
        starters=[] if messages or sending else embed.pickaxe.starter_list(),
        earlier=earlier,
        forgotten=forgotten,
        sending=sending,
    )


def _chat_message(run, *, last):
    not_answered = run.status == Run.Status.FAILED and not run.output
    return ChatMessage(
        text=chat.message_text(run.inputs),
        answer_html=render_output(run.output) if run.output else "",
        not_answered=not_answered,
        demo=run.model == llm.DEMO_LABEL,
        retryable=not_answered and last,
        running=run.status == Run.Status.RUNNING,
    )


def chat_totals(pickaxe, *, days=30, now=None):
    """A chat pickaxe's conversations that had a message in the last `days` days: in all,
    and those of embed visitors and of the API (one query). Its messages are its runs."""
    since = (now or timezone.now()) - timedelta(days=days)
    return Conversation.objects.filter(pickaxe=pickaxe, updated_at__gte=since).aggregate(
        conversations=Count("id"),
        embed=Count("id", filter=Q(source=Run.Source.EMBED)),
        api=Count("id", filter=Q(source=Run.Source.API)),
    )


class KeyNotUsable(Exception):
    """No key has this secret, or it was revoked, or it has expired; `reason` says which."""

    def __init__(self, reason):
        self.reason = reason
        super().__init__(reason)


def api_key_for_secret(secret, *, now=None):
    """The usable key with this secret (and its owner), else KeyNotUsable. `limited`:
    whether the key is limited to some pickaxes, read in the same query (most keys are
    not, and then no other query is needed to know it)."""
    now = now or timezone.now()
    limited = Exists(ApiKey.pickaxes.through.objects.filter(apikey_id=OuterRef("pk")))
    key = (
        ApiKey.objects.select_related("owner")
        .annotate(limited=limited)
        .filter(secret_hash=hash_secret(secret or ""))
        .first()
    )
    if key is None or not key.owner.is_active:
        raise KeyNotUsable("This API key is not known.")
    if key.revoked_at is not None:
        raise KeyNotUsable("This API key was revoked.")
    if key.expires_at is not None and key.expires_at <= now:
        raise KeyNotUsable("This API key has expired.")
    return key


class NotForThisKey(Exception):
    """The pickaxe exists, but this key is limited to other pickaxes."""


def runnable_pickaxe(key, slug):
    """The pickaxe `slug` if this key may run it (its owner may run it on the site: public,
    unlisted, or their own; and the key is not limited to others). Http404 when the owner
    could not see it; NotForThisKey when the key is limited to other pickaxes."""
    pickaxe = pickaxe_selectors.pickaxe_for_run(slug, key.owner)
    if _limited(key) and not key.pickaxes.filter(pk=pickaxe.pk).exists():
        raise NotForThisKey(slug)
    return pickaxe


def _limited(key):
    return key.limited if hasattr(key, "limited") else key.pickaxes.exists()


def runnable_pickaxes(key, *, limit=100, offset=0):
    """What a key may run, with its fields: the pickaxes it is limited to, else its owner's
    own pickaxes and the public ones (unlisted ones run by slug but are not listed)."""
    allowed = [p.pk for p in key.pickaxes.all()]
    if allowed:
        pickaxes = Pickaxe.objects.filter(pk__in=allowed)
    else:
        pickaxes = Pickaxe.objects.filter(owner=key.owner) | Pickaxe.objects.filter(
            visibility=Pickaxe.Visibility.PUBLIC
        )
    return list(pickaxes.prefetch_related("fields").order_by("slug")[offset : offset + limit])


@dataclass(frozen=True)
class ApiExample:
    """A run the API guide shows, that runs as written: a pickaxe and inputs its form takes."""

    slug: str
    name: str
    inputs: dict

    def body(self, **extra):
        return json.dumps({"inputs": self.inputs, "user": "customer-42", **extra}, ensure_ascii=False)

    @property
    def shell_body(self):
        """The body between a shell's single quotes (a quote in a value closes and reopens them)."""
        return self.body().replace("'", "'\\''")

    @property
    def shell_body_streamed(self):
        return self.body(stream=True).replace("'", "'\\''")


def _example_pickaxes(user, kind):
    """A signed-in creator's own pickaxes of `kind` (newest first), else the most-run public ones."""
    pickaxes = Pickaxe.objects.none()
    if user.is_authenticated:
        pickaxes = Pickaxe.objects.filter(owner=user, kind=kind).order_by("-created_at", "-id")
    if not user.is_authenticated or not pickaxes.exists():
        pickaxes = Pickaxe.objects.filter(visibility=Pickaxe.Visibility.PUBLIC, kind=kind).order_by(
            "-runs_count", "slug"
        )
    return pickaxes


def api_examples(user, *, limit=3):
    """The API guide's examples of form pickaxes: a signed-in creator's own (newest first),
    else the most-run public ones, each with inputs that its form takes."""
    return [
        ApiExample(slug=pickaxe.slug, name=pickaxe.name, inputs=sample_inputs(pickaxe))
        for pickaxe in _example_pickaxes(user, Pickaxe.Kind.FORM).prefetch_related("fields")[:limit]
    ]


@dataclass(frozen=True)
class ChatExample:
    """The chat pickaxe the API guide's chat examples talk to, with two messages to send."""

    slug: str
    name: str
    first: str = "I am learning the French past tense."
    second: str = "Quiz me on it, one question at a time."

    def body(self, message, **extra):
        return json.dumps({"message": message, "user": "customer-42", **extra}, ensure_ascii=False)

    @property
    def shell_first(self):
        return self.body(self.first).replace("'", "'\\''")


def api_chat_example(user):
    """The chat pickaxe of the API guide's chat examples (as api_examples chooses), or None."""
    pickaxe = _example_pickaxes(user, Pickaxe.Kind.CHAT).first()
    return ChatExample(slug=pickaxe.slug, name=pickaxe.name) if pickaxe else None


def api_run_of(key, run_id):
    """A run made with this key; Http404 for any other."""
    api_run = ApiRun.objects.select_related("run__pickaxe", "run__conversation").filter(key=key, run_id=run_id).first()
    if api_run is None:
        raise Http404("No such run for this key.")
    return api_run


def api_conversation(key, end_user, public_id, *, pickaxe=None):
    """The conversation `public_id` of this key and end user (of `pickaxe`, when given),
    with its pickaxe; Http404 for any other (another key's, another end user's, another
    pickaxe's)."""
    return pickaxe_selectors.conversation_for(public_id, api_holder(key, end_user), pickaxe=pickaxe)


@dataclass(frozen=True)
class ConversationPage:
    """Some runs of a conversation (its messages sent and their answers), oldest first."""

    runs: list
    total: int  # messages sent in the whole conversation
    more: bool  # whether runs follow this page


def conversation_page(conversation, *, limit, offset):
    """`limit` runs of the conversation from `offset`, by position: two queries, whatever
    the conversation holds."""
    runs = list(
        Run.objects.filter(conversation=conversation)
        .only("id", "position", "inputs", "output", "status", "started_at", "finished_at")
        .order_by("position")[offset : offset + limit + 1]
    )
    return ConversationPage(runs=runs[:limit], total=conversation.messages.count(), more=len(runs) > limit)


def api_keys_of(owner):
    """The owner's keys, newest first, each with the pickaxes it is limited to and `used_at`:
    when it was last used (its last run, or a later call that ran nothing)."""
    keys = list(
        ApiKey.objects.filter(owner=owner)
        .annotate(last_run_at=Max("runs__started_at"))
        .prefetch_related("pickaxes")
        .order_by("-created_at", "-id")
    )
    for key in keys:
        key.used_at = max(filter(None, (key.last_used_at, key.last_run_at)), default=None)
    return keys


def api_key_with_prefix(prefix):
    """The key whose visible prefix is `prefix` (as lists show it, with or without "…")."""
    return ApiKey.objects.filter(prefix=prefix.rstrip("…. ")).first()


def api_usage(pickaxe, *, days=30, now=None):
    """The pickaxe's API runs of the last `days` days by key: [{name, prefix, runs,
    end_users, last_run_at}], most runs first (one query)."""
    since = (now or timezone.now()) - timedelta(days=days)
    return list(
        ApiRun.objects.filter(run__pickaxe=pickaxe, started_at__gte=since)
        .values("key__name", "key__prefix")
        .annotate(runs=Count("run"), end_users=Count("end_user", distinct=True), last_run_at=Max("started_at"))
        .order_by("-runs", "key__name")
    )


EXPORT_COLUMNS = [*pickaxe_selectors.EXPORT_COLUMNS, "api_key", "end_user"]


def runs_for_export(pickaxe, *, days=30, now=None):
    """The usage export: pickaxes' columns, and for an API run the key's name and the end
    user the caller named (empty for other runs). One query, however many rows."""
    runs = pickaxe_selectors.runs_to_export(pickaxe, days=days, now=now).select_related("api_run__key")
    for run in runs.iterator(chunk_size=500):
        api_run = getattr(run, "api_run", None) if run.source == Run.Source.API else None
        extra = [api_run.key.name, api_run.end_user] if api_run else ["", ""]
        yield pickaxe_selectors.export_row(pickaxe, run) + [pickaxe_selectors.spreadsheet_safe(cell) for cell in extra]
