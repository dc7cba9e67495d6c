"""Run history: /account/runs/ lists the runs a person paid for or submitted, paged, each
opening its page; only they see a run; "Run again" fills the pickaxe's form again."""

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

from credits import services as credits
from pickaxes import services
from pickaxes.models import InputField
from tests.pickaxes.factories import PickaxeFactory, open_run


def finished(pickaxe, payer, key, *, source="site", inputs=None, output="Done."):
    run = open_run(pickaxe, payer, key, source=source, inputs=inputs)
    services.finish_run(run, output=output, model="m", prompt_tokens=1, completion_tokens=1)
    return run


def test_the_history_lists_my_runs_newest_first_with_inputs_charge_and_a_link(client, user, pickaxe):
    older = finished(pickaxe, user, "a" * 20, inputs={"topic": "the harbour"})
    newer = open_run(pickaxe, user, "b" * 20, inputs={"topic": "the moon"})
    services.fail_run(newer, error="boom")
    client.force_login(user)
    html = client.get("/account/runs/").content.decode()
    assert html.index("the moon") < html.index("the harbour")
    assert "Topic:" in html and "succeeded, 1 credit" in html and "failed, not charged" in html
    assert f'href="/account/runs/{older.pk}/"' in html and f'href="/account/runs/{newer.pk}/"' in html


def test_the_history_shows_no_one_elses_runs(client, user, make_user, pickaxe):
    finished(pickaxe, make_user(), "c" * 20, inputs={"topic": "someone else's secret"})
    client.force_login(user)
    html = client.get("/account/runs/").content.decode()
    assert "someone else" not in html and "No runs yet" in html


def test_the_history_is_paged(client, user, pickaxe):
    credits.set_allowance(user, 100, reason="many runs")
    for n in range(27):
        open_run(pickaxe, user, f"page-{n:016d}", inputs={"topic": f"topic number {n}"})
    client.force_login(user)
    first = client.get("/account/runs/").content.decode()
    second = client.get("/account/runs/?page=2").content.decode()
    assert "topic number 26" in first and "topic number 1<" not in first and "Page 1 of 2" in first
    assert "topic number 0" in second and "topic number 26" not in second
    assert client.get("/account/runs/?page=nonsense").status_code == 200


def test_the_history_costs_the_same_queries_for_3_runs_or_30(client, user, make_user):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/account/runs/").status_code == 200
        return len(captured)

    credits.set_allowance(user, 100, reason="many runs")
    client.force_login(user)
    for n in range(3):
        finished(PickaxeFactory(), user, f"few-{n:016d}")
    few = queries()
    for n in range(27):
        finished(PickaxeFactory(), user, f"many-{n:016d}", source="embed" if n % 2 else "site")
    assert queries() == few


def test_embed_and_test_runs_are_labelled_in_the_history(client, user, make_user):
    mine = PickaxeFactory(owner=user)
    finished(mine, user, "e" * 20, source="embed")
    finished(mine, user, "t" * 20, source="test")
    client.force_login(user)
    html = client.get("/account/runs/").content.decode()
    assert re.findall(r'data-testid="run-source">(\w+)<', html) == ["test", "embed"]


def test_api_runs_are_labelled_in_the_history_like_embed_runs(client, user):
    mine = PickaxeFactory(owner=user)
    finished(mine, user, "s" * 20, source="site")
    finished(mine, user, "a" * 20, source="api")
    finished(mine, user, "e" * 20, source="embed")
    client.force_login(user)
    html = client.get("/account/runs/").content.decode()
    assert re.findall(r'data-testid="run-source">(\w+)<', html) == ["embed", "API"]
    api_run_page = client.get(f"/account/runs/{mine.runs.get(source='api').pk}/").content.decode()
    assert 'data-testid="run-source">API<' in api_run_page


def test_a_run_page_shows_inputs_by_label_and_a_copy_button_and_run_again(client, user, pickaxe):
    run = finished(pickaxe, user, "f" * 20, inputs={"topic": "the harbour"}, output="**Gulls**")
    client.force_login(user)
    html = client.get(f"/account/runs/{run.pk}/").content.decode()
    assert "<dt>Topic</dt><dd>the harbour</dd>" in html and "<strong>Gulls</strong>" in html
    assert "data-copy-output" in html and "js/copy.js" in html
    assert f'href="/p/{pickaxe.slug}/?again={run.pk}"' in html


def test_run_again_fills_the_form_with_the_runs_inputs(client, user, pickaxe):
    InputField.objects.create(pickaxe=pickaxe, label="Mood", key="mood", position=1, required=False)
    run = finished(pickaxe, user, "g" * 20, inputs={"topic": "the harbour", "mood": "calm"})
    client.force_login(user)
    html = client.get(f"/p/{pickaxe.slug}/?again={run.pk}").content.decode()
    assert 'value="the harbour"' in html and 'value="calm"' in html


def test_run_again_with_someone_elses_run_or_a_bad_id_shows_an_empty_form(client, user, make_user, pickaxe):
    theirs = finished(pickaxe, make_user(), "h" * 20, inputs={"topic": "their secret"})
    other_pickaxe_run = finished(PickaxeFactory(), user, "i" * 20, inputs={"topic": "elsewhere"})
    client.force_login(user)
    for again in (theirs.pk, other_pickaxe_run.pk, "x1", "99999999999999999999"):
        response = client.get(f"/p/{pickaxe.slug}/?again={again}")
        assert response.status_code == 200
        html = response.content.decode()
        assert "their secret" not in html and "elsewhere" not in html


def test_the_account_page_links_recent_runs_to_their_page_not_the_form(client, user, pickaxe):
    run = finished(pickaxe, user, "j" * 20)
    client.force_login(user)
    html = client.get("/account/").content.decode()
    assert f'<a href="/account/runs/{run.pk}/">{pickaxe.name}</a>' in html
    assert f'href="/p/{pickaxe.slug}/"' not in html and 'href="/account/runs/"' in html


def test_the_history_needs_a_login(client, db):
    response = client.get("/account/runs/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
