"""Receivers of other apps' signals; each calls one selector or service."""

from embeds import selectors


def usage_insight(sender, pickaxe, **kwargs):
    """pickaxes' usage page: what the pickaxe's embed refused, and its visitors per day."""
    return selectors.usage_insight(pickaxe)
