"""Embed runs arriving at once, on PostgreSQL (real threads, real row locks): the owner's
per-minute cap holds across all their embeds, and a visitor's limit holds within one."""

import pytest

from embeds import services
from pickaxes.models import Run
from tests.credits.test_concurrency import run_in_threads
from tests.pickaxes.factories import PickaxeFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def start(embed, n, *, visitor=None):
    try:
        services.start_embed_run(
            embed=embed,
            visitor_id=visitor or f"{n:032x}",
            visitor_ip=f"address-{n}",
            inputs={"topic": "the sea"},
            submission_key=f"k{n:019d}",
        )
    except services.EmbedRefused as refused:
        return refused.reason
    return "admitted"


def test_the_owners_per_minute_cap_holds_across_all_their_embeds(settings, make_user):
    settings.EMBED_OWNER_RUNS_PER_MINUTE = 10
    owner = make_user()
    embeds = [services.embed_for(PickaxeFactory(owner=owner)) for _ in range(5)]
    outcomes, errors = run_in_threads(40, lambda n: start(embeds[n % 5], n))
    assert not errors
    assert outcomes.count("admitted") == 10 and outcomes.count("owner_cap") == 30
    assert Run.objects.filter(payer=owner).count() == 10


def test_a_visitors_limit_holds_when_their_runs_arrive_at_once(settings, make_user):
    settings.EMBED_OWNER_RUNS_PER_MINUTE = 0
    embed = services.embed_for(PickaxeFactory(owner=make_user()))
    embed.runs_per_visitor = 3
    embed.save()
    outcomes, errors = run_in_threads(12, lambda n: start(embed, n, visitor="b" * 32))
    assert not errors
    assert outcomes.count("admitted") == 3 and outcomes.count("visitor") == 9
