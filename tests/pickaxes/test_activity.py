"""The activity list on /account/: every change to the balance, newest first, paged, with
what the user may read (the note staff wrote for them, never the staff's reason or name)."""

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from billing import services as billing
from credits import services as credits
from credits.models import Entry
from pickaxes import services as pickaxe_services
from pickaxes.models import Run
from tests.pickaxes.factories import open_run
from tests.pickaxes.pages import activity_lines, balance_line

KEYS = itertools.count()


@pytest.fixture
def staff(make_user):
    return make_user(email="alice.support@example.com", is_staff=True)


def account_page(client, user, query=""):
    client.force_login(user)
    response = client.get("/account/" + query)
    assert response.status_code == 200
    return response.content.decode()


def test_runs_show_their_pickaxe_and_whether_they_were_charged_refunded_or_cut_off(client, user, pickaxe):
    charged = open_run(pickaxe, user, "a")
    pickaxe_services.finish_run(charged, output="A poem.", model="m", prompt_tokens=1, completion_tokens=2)
    refunded = open_run(pickaxe, user, "b")
    pickaxe_services.fail_run(refunded, error="Upstream error.")
    cut_off = open_run(pickaxe, user, "c")
    pickaxe_services.keep_running({cut_off: "Half a po"})
    pickaxe_services.fail_run(cut_off, error="Timed out.")
    lines = activity_lines(account_page(client, user))
    name = pickaxe.name
    assert lines[0].startswith(f"{name} cut off: charged, the output so far is kept · back on ") and "−1" in lines[0]
    assert lines[1].startswith(f"Credit back {name}: the run failed before any output +1")
    assert lines[2].startswith(f"{name} failed before any output: not charged")
    assert lines[3].startswith(f"{name} charged · back on ") and "−1" in lines[3]
    assert lines[4].startswith("Free plan 25 credits, each back 30 days after use +25 allowance")
    html = account_page(client, user)
    assert f'href="/account/runs/{charged.pk}/"' in html


def test_a_run_on_an_own_key_is_listed_without_a_charge(client, make_user, pickaxe):
    gold = make_user(plan=User.Plan.GOLD)
    with_key = open_run(pickaxe, gold, "x")  # a charged one, for contrast
    own = Run.objects.create(
        pickaxe=pickaxe,
        payer=gold,
        submitted_by=gold,
        submission_key="own",
        own_key=True,
        started_at=with_key.started_at,
        status=Run.Status.SUCCEEDED,
    )
    lines = activity_lines(account_page(client, gold))
    assert any(line.startswith(f"{pickaxe.name} on your own OpenAI key: no credit (done) no credit") for line in lines)
    assert f'href="/account/runs/{own.pk}/"' in account_page(client, gold)


def test_staff_grants_and_deductions_show_the_note_for_the_user_not_the_reason_or_the_name(client, user, staff):
    credits.grant(user, 50, reason="internal: ticket 4411", staff=staff, user_note="Sorry for Tuesday's outage")
    credits.deduct(user, 5, reason="internal: abuse report", staff=staff)
    html = account_page(client, user)
    lines = activity_lines(html)
    assert lines[0].startswith("Credits deducted by the Pickaxe team · back on ") and "−5" in lines[0]
    assert lines[1].startswith("Bonus credits Sorry for Tuesday's outage · until ") and "+50" in lines[1]
    for secret in ("ticket 4411", "abuse report", "alice.support"):
        assert secret not in html
    assert balance_line(html).startswith("70 credits: 25 from Free, 50 bonus until ")
    assert balance_line(html).endswith(", 5 deducted")


def test_plan_and_pack_changes_and_a_permanent_allowance_change(client, user, staff):
    billing.set_entitlement_by_staff(user, gold=True, packs_100=1, packs_250=0, staff=staff)
    credits.adjust_allowance(user, 10, reason="partner", staff=staff, user_note="Partner programme")
    html = account_page(client, user)
    lines = activity_lines(html)
    assert lines[0].startswith(
        "Allowance changed for good Partner programme · 1,110 credits, each back 30 days after use +10 allowance"
    )
    assert lines[1].startswith("Plan: Gold + 1 × Extra 100 1,100 credits, each back 30 days after use +1075 allowance")
    assert "alice.support" not in html
    user.refresh_from_db()
    assert (
        balance_line(account_page(client, user))
        == "1110 credits: 1000 from Gold, 100 from extra packs, +10 from the Pickaxe team"
    )


def test_the_activity_is_paged_newest_first(client, user, pickaxe):
    for _ in range(25):
        open_run(pickaxe, user, f"k{next(KEYS)}")
    first, last = account_page(client, user), account_page(client, user, "?page=3")
    assert len(activity_lines(first)) == 10 and len(activity_lines(last)) == 6
    assert "page 1 of 3" in first and '?page=2#activity">Older' in first
    assert activity_lines(last)[-1].startswith("Free plan")
    assert activity_lines(account_page(client, user, "?page=oops")) == activity_lines(first)  # bad input: page 1
    assert activity_lines(account_page(client, user, "?page=99")) == activity_lines(last)  # past the end: the last


def test_the_account_page_query_count_does_not_grow_with_the_activity(client, user, pickaxe, staff):
    client.force_login(user)

    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/account/").status_code == 200
        return len(queries)

    open_run(pickaxe, user, "first")
    few = count_queries()
    for index in range(30):
        run = open_run(pickaxe, user, f"k{index}")
        if index % 3 == 0:
            pickaxe_services.fail_run(run, error="Upstream error.")
    credits.grant(user, 5, reason="r", staff=staff, user_note="n")
    credits.deduct(user, 1, reason="r", staff=staff)
    credits.adjust_allowance(user, 3, reason="r", staff=staff)
    assert Entry.objects.count() > 40
    assert count_queries() == few


def test_a_run_refunded_by_staff_says_so_without_their_reason(client, user, pickaxe, staff):
    run = open_run(pickaxe, user, "r")
    pickaxe_services.finish_run(run, output="A poem.", model="m", prompt_tokens=1, completion_tokens=2)
    pickaxe_services.refund_run(run, reason="ticket 88: poor answer", staff=staff)
    html = account_page(client, user)
    assert activity_lines(html)[0].startswith(f"Credit back {pickaxe.name}: given back by the Pickaxe team +1")
    assert activity_lines(html)[1].startswith(f"{pickaxe.name} refunded: not charged (the credit came back) −1")
    assert "ticket 88" not in html
