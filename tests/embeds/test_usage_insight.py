"""Owner insight on /studio/<slug>/usage/: refused embed runs counted by reason, distinct
visitors per day, the runs listed with embed runs labelled and no one's identity."""

import re
from datetime import timedelta

import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from credits import services as credit_services
from embeds.models import RefusedRuns
from pickaxes import services as pickaxe_services
from tests.embeds.conftest import run_embed
from tests.pickaxes.factories import open_run


def usage_page(embed):
    owner = Client()
    owner.force_login(embed.pickaxe.owner)
    response = owner.get(f"/studio/{embed.pickaxe.slug}/usage/")
    assert response.status_code == 200
    return response.content.decode()


def refused_counts(html):
    return {reason: int(count) for reason, count in re.findall(r'data-reason="([^"]+)">(\d+)<', html)}


def test_each_refusal_is_counted_by_its_reason(embed, fake_openai, settings):
    embed.runs_per_visitor, embed.runs_per_ip_per_day = 1, 3
    embed.save()
    visitor = Client()
    run_embed(visitor, embed)
    run_embed(visitor, embed)  # visitor limit
    run_embed(visitor, embed)  # visitor limit
    run_embed(Client(), embed)
    run_embed(Client(), embed)
    run_embed(Client(), embed)  # address limit (a fresh cookie, the same address)
    assert refused_counts(usage_page(embed)) == {
        "visitor": 2,
        "address": 1,
        "owner_cap": 0,
        "resting": 0,
        "unavailable": 0,
    }


def test_the_owner_cap_and_resting_are_counted(embed, fake_openai, settings):
    settings.EMBED_OWNER_RUNS_PER_MINUTE = 1
    embed.runs_per_ip_per_day = 0
    embed.save()
    run_embed(Client(), embed)
    assert "very busy" in run_embed(Client(), embed).content.decode()
    credit_services.set_allowance(embed.pickaxe.owner, 0, reason="test")
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert "resting" in run_embed(Client(), embed).content.decode()
        html = usage_page(embed)
    counts = refused_counts(html)
    assert counts["owner_cap"] == 1 and counts["resting"] == 1


def test_refusals_are_one_counter_a_day_per_reason_and_older_than_30_days_drop_off(embed, fake_openai):
    embed.runs_per_visitor = 1
    embed.save()
    visitor = Client()
    run_embed(visitor, embed)
    for _ in range(3):
        run_embed(visitor, embed)
    assert RefusedRuns.objects.get().count == 3
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        assert refused_counts(usage_page(embed))["visitor"] == 0


def test_distinct_visitors_are_counted_per_day(embed, fake_openai):
    run_embed(Client(), embed)
    regular = Client()
    run_embed(regular, embed)
    run_embed(regular, embed, topic="again")
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        run_embed(regular, embed, topic="the next day")
        html = usage_page(embed)
    today, tomorrow = timezone.localdate(), timezone.localdate() + timedelta(days=1)
    assert f"<title>{today:%-d %b}: 2 visitors</title>" in html
    assert f"<title>{tomorrow:%-d %b}: 1 visitor</title>" in html
    assert '<strong data-testid="embed-visitors">2</strong> distinct visitors' in html


def test_the_usage_page_lists_runs_with_embed_runs_labelled_and_no_ones_email(embed, fake_openai, make_user):
    pickaxe = embed.pickaxe
    runner = make_user(email="runner@example.com")
    site_run = open_run(pickaxe, runner, "s" * 20, inputs={"topic": "a private matter"})
    pickaxe_services.finish_run(site_run, output="secret output", model="m", prompt_tokens=1, completion_tokens=1)
    run_embed(Client(), embed)
    html = usage_page(embed)
    runs = html[html.index('data-testid="usage-runs"') :]
    assert 'data-testid="run-source">embed<' in runs and "an embed visitor" in runs
    assert "runner@example.com" not in html and "a private matter" not in html and "secret output" not in html
    assert re.search(r"payer-[0-9a-f]{12}", runs)
    # The owner paid for the embed run, so may open it; not the other person's run.
    assert f"/account/runs/{site_run.pk}/" not in html
    embed_run = pickaxe.runs.get(source="embed")
    assert re.findall(r'href="/account/runs/\d+/"', html) == [f'href="/account/runs/{embed_run.pk}/"']


def test_the_usage_page_links_to_edit_and_embed(embed):
    html = usage_page(embed)
    slug = embed.pickaxe.slug
    assert f'href="/studio/{slug}/">Edit</a>' in html and f'href="/studio/{slug}/embed/">Embed</a>' in html


def test_a_pickaxe_never_embedded_has_no_embed_section(client, pickaxe):
    client.force_login(pickaxe.owner)
    html = client.get(f"/studio/{pickaxe.slug}/usage/").content.decode()
    assert 'data-testid="embed-insight"' not in html and "No runs yet" in html


def test_the_usage_page_costs_the_same_queries_for_few_runs_or_many(embed, fake_openai, settings, make_user):
    settings.EMBED_OWNER_RUNS_PER_MINUTE = 0
    embed.runs_per_ip_per_day = 0
    embed.save()
    credit_services.set_allowance(embed.pickaxe.owner, 100, reason="many runs")
    owner = Client()
    owner.force_login(embed.pickaxe.owner)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert owner.get(f"/studio/{embed.pickaxe.slug}/usage/").status_code == 200
        return len(captured)

    run_embed(Client(), embed)
    few = queries()
    for n in range(30):
        run_embed(Client(), embed, topic=f"topic {n}")
        open_run(embed.pickaxe, make_user(), f"site-{n:016d}")
    assert queries() == few
