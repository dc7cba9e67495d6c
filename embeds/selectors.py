"""Reads for embeds."""

from datetime import timedelta

from django.utils import timezone


def visitor_count(embed, *, days=30, now=None):
    """Distinct visitors who ran the embed in the last `days` days."""
    since = (now or timezone.now()) - timedelta(days=days)
    return embed.runs.filter(started_at__gte=since).values("visitor_id").distinct().count()
