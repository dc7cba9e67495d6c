"""Reads for embeds."""

from datetime import timedelta

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from embeds.models import Embed, RefusedRuns
from pickaxes import charts


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


def usage_insight(pickaxe, *, now=None):
    """The embed's part of its pickaxe's usage page; None for a pickaxe never embedded."""
    embed = Embed.objects.filter(pickaxe=pickaxe).first()
    if embed is None:
        return None
    visitors = visitors_per_day(embed, now=now)
    refused = refused_by_reason(embed, now=now)
    return {
        "template": "embeds/_usage_insight.html",
        "embed": embed,
        "visitors": visitors,
        # Drawn as the usage chart's embed bars: one bar a day, its height the visitors.
        "visitors_chart": charts.usage_chart([(day, 0, 0, count) for day, count in visitors]),
        "visitor_total": visitor_count(embed, now=now),
        "refused": refused,
        "refused_total": sum(count for _, _, count in refused),
    }
