"""Signals pickaxes sends for apps above it (DESIGN.md section 6), which it must not know."""

from django.dispatch import Signal

from pickaxes.models import Pickaxe

# Sent while a pickaxe's usage page is drawn, with `pickaxe`. A receiver (embeds: what
# the embed refused, its visitors) returns {"template": <a partial>, ...its context}, or
# None; the page includes each partial with its context as `section`.
usage_page = Signal()


def usage_sections(pickaxe):
    """The usage page's parts that other apps add, in the order they connected."""
    return [section for _, section in usage_page.send(sender=Pickaxe, pickaxe=pickaxe) if section]
