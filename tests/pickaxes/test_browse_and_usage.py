from datetime import timedelta

import time_machine
from django.utils import timezone

from accounts.plans import FREE
from pickaxes import services
from pickaxes.models import Run
from tests.pickaxes.factories import PickaxeFactory, open_run


def run_once(pickaxe, payer, key, source="site", fail=False):
    run = open_run(pickaxe, payer, key, source=source)
    if fail:
        services.fail_run(run, error="boom")
    else:
        services.finish_run(run, output="ok", model="m", prompt_tokens=3, completion_tokens=5)
    return run


def test_browse_lists_public_pickaxes_only(client, db):
    PickaxeFactory(name="Poem writer")
    PickaxeFactory(name="Secret helper", visibility="private")
    PickaxeFactory(name="Link only", visibility="unlisted")
    html = client.get("/").content.decode()
    assert "Poem writer" in html and "Secret helper" not in html and "Link only" not in html


def test_browse_searches_name_and_description(client, db):
    PickaxeFactory(name="Poem writer", description="verses")
    PickaxeFactory(name="Email helper", description="Writes polite emails")
    html = client.get("/?q=polite").content.decode()
    assert "Email helper" in html and "Poem writer" not in html
    assert "No public pickaxe matches" in client.get("/?q=zzz").content.decode()


def test_browse_orders_newest_or_most_run_first(client, make_user):
    payer = make_user()
    old = PickaxeFactory(name="Old but popular")
    new = PickaxeFactory(name="New and quiet")
    for i in range(3):
        run_once(old, payer, key=f"popular-{i:020d}")
    services.count_runs()  # on the sweep's schedule
    newest = client.get("/").content.decode()
    popular = client.get("/?order=popular").content.decode()
    assert newest.index("New and quiet") < newest.index("Old but popular")
    assert popular.index("Old but popular") < popular.index("New and quiet")
    assert "3 runs" in popular
    new.refresh_from_db()
    assert new.runs_count == 0


def test_browse_empty_state(client, db):
    assert "No public pickaxes yet" in client.get("/").content.decode()


def test_account_lists_my_recent_runs_charged_or_not(client, pickaxe, user):
    run_once(pickaxe, user, key="a" * 20)
    run_once(pickaxe, user, key="b" * 20, fail=True)
    client.force_login(user)
    html = client.get("/account/").content.decode()
    assert "succeeded, 1 credit" in html and "failed, not charged" in html


def test_usage_page_shows_runs_per_day_totals_and_kinds(client, pickaxe, make_user):
    payer = make_user()
    with time_machine.travel(timezone.now() - timedelta(days=3)):
        run_once(pickaxe, payer, key="c" * 20)
    run_once(pickaxe, payer, key="d" * 20)
    run_once(pickaxe, pickaxe.owner, key="e" * 20, source="test", fail=True)
    client.force_login(pickaxe.owner)
    html = client.get(f"/studio/{pickaxe.slug}/usage/").content.decode()
    assert '<strong data-testid="usage-total">3</strong> runs · 2 succeeded · 1 failed · 1 refunded' in html
    assert html.count('class="bar-site"') == 2 and html.count('class="bar-test"') == 1


def test_usage_page_is_for_the_owner_only(client, pickaxe, user):
    client.force_login(user)
    assert client.get(f"/studio/{pickaxe.slug}/usage/").status_code == 404
    assert client.get(f"/studio/{pickaxe.slug}/usage.csv").status_code == 404


def test_usage_csv_export(client, pickaxe, make_user):
    payer = make_user()
    run_once(pickaxe, payer, key="f" * 20)
    client.force_login(pickaxe.owner)
    response = client.get(f"/studio/{pickaxe.slug}/usage.csv")
    assert response["Content-Type"] == "text/csv"
    lines = response.content.decode().strip().splitlines()
    assert lines[0].startswith("started_at,source,status,payer")
    assert ",site,succeeded,payer-" in lines[1] and ",m,3,5," in lines[1]


def test_usage_csv_shows_a_stable_pseudonymous_payer_id_never_an_email(client, pickaxe, make_user):
    payer, other = make_user(), make_user()
    run_once(pickaxe, payer, key="a" * 20)
    run_once(pickaxe, payer, key="b" * 20)
    run_once(pickaxe, other, key="c" * 20)
    client.force_login(pickaxe.owner)
    body = client.get(f"/studio/{pickaxe.slug}/usage.csv").content.decode()
    assert payer.email not in body and other.email not in body and "@" not in body
    payers = [row.split(",")[3] for row in body.strip().splitlines()[1:]]
    assert payers[0] == payers[1] != payers[2] and payers[0].startswith("payer-")


def test_usage_csv_neutralises_cells_a_spreadsheet_would_read_as_formulas(client, pickaxe, make_user):
    payer = make_user(email="=1+2@example.com")
    run_once(pickaxe, payer, key="d" * 20)
    Run.objects.update(model="=HYPERLINK(1)")
    client.force_login(pickaxe.owner)
    cells = client.get(f"/studio/{pickaxe.slug}/usage.csv").content.decode().strip().splitlines()[1].split(",")
    assert "'=HYPERLINK(1)" in cells
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)


def test_usage_empty_state(client, pickaxe):
    client.force_login(pickaxe.owner)
    assert "No runs in the last 30 days." in client.get(f"/studio/{pickaxe.slug}/usage/").content.decode()


def test_browse_offers_the_free_plans_credits_and_states_the_replenishment_period(client, db, settings):
    settings.CREDIT_REPLENISH_DAYS = 14
    html = client.get("/").content.decode()
    assert f"Sign up for {FREE.allowance} free credits." in html
    assert "comes back 14 days later" in html
