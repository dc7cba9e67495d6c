"""Where my credits stand (issue 13, items 1-4), in Chromium against the ASGI app: the
balance line, the activity and the timeline after a run, a staff grant and a deduction;
the low-balance banner, once; Submit disabled at 0. Screenshots at 1280 and 390 px."""

from datetime import timedelta

import pytest
from django.template.defaultfilters import date as format_date
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import OutgoingEmail
from credits import services as credits
from credits.models import Entry, LowBalanceAlert
from embeds.models import Embed
from embeds.services import start_embed_run
from tests.factories import PASSWORD, UserFactory
from tests.pickaxes.factories import open_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDE, NARROW = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
BALANCE_LINE = "balance-line"
BANNER = "low-balance-banner"


def log_in(page, email):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page).to_have_url("/account/")


def run_once(page, pickaxe, topic="the sea"):
    page.goto(f"/p/{pickaxe.slug}/")
    page.get_by_label("Topic").fill(topic)
    page.get_by_label("Tone").select_option("Serious")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("[data-testid=run-output]:not(.streaming)")).to_have_count(1)


def both_widths(page, screenshot, name):
    page.set_viewport_size(WIDE)
    screenshot(f"{name}-1280", page)
    page.set_viewport_size(NARROW)
    screenshot(f"{name}-390", page)
    page.set_viewport_size(WIDE)


def day(moment):
    return format_date(timezone.localtime(moment), "j M")


def test_a_user_watches_the_balance_activity_and_timeline_after_a_run_a_grant_and_a_deduction(
    new_page, asgi_live_server, fake_openai, pickaxe, screenshot
):
    fake_openai.reply = "Grey water folds on itself."
    customer = UserFactory(email="reader@example.com")
    staff = UserFactory(email="support@example.com", is_staff=True, is_superuser=True)
    page = new_page(asgi_live_server, viewport=WIDE)
    log_in(page, customer.email)
    expect(page.get_by_test_id(BALANCE_LINE)).to_have_text("25 credits: 25 from Free")
    expect(page.get_by_test_id("activity-line")).to_have_count(1)
    expect(page.get_by_test_id("returns-timeline")).to_contain_text("Nothing to come back")
    both_widths(page, screenshot, "credits-account-empty")

    run_once(page, pickaxe)
    page.goto("/account/")
    use = Entry.objects.get(kind="use")
    expect(page.get_by_test_id(BALANCE_LINE)).to_have_text("24 credits: 25 from Free, 1 in use")
    first = page.get_by_test_id("activity-line").first
    expect(first).to_contain_text("Haiku helper")
    expect(first).to_contain_text(f"charged · back on {day(use.expires_at)}")
    expect(first.get_by_test_id("activity-amount")).to_have_text("−1")
    rows = page.get_by_test_id("timeline-day")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("+1")
    expect(rows.first).to_contain_text("25 credits")
    expect(page.get_by_test_id("balance-chart").locator("path.balance-step")).to_have_count(1)

    # Staff grant 50 until the day before the use comes back, then deduct 30, in the admin.
    admin = new_page(asgi_live_server, viewport=WIDE)
    admin.goto("/admin/login/")
    admin.get_by_label("Email address").fill(staff.email)
    admin.get_by_label("Password").fill(PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    until = timezone.localdate() + timedelta(days=29)
    admin.goto(f"/admin/accounts/user/{customer.pk}/credits/grant/")
    admin.get_by_label("Amount").fill("50")
    admin.get_by_label("Expires on").fill(until.isoformat())
    admin.get_by_label("Reason").fill("ticket 77, outage credit")
    admin.get_by_label("Note for the user").fill("Sorry for Tuesday's outage")
    screenshot("credits-admin-grant-with-note", admin)
    admin.get_by_role("button", name="Grant bonus credits").click()
    expect(admin.locator(".messagelist")).to_contain_text("Granted 50 bonus credits")

    page.reload()
    until_text = format_date(until, "j M")
    expect(page.get_by_test_id(BALANCE_LINE)).to_have_text(
        f"74 credits: 25 from Free, 50 bonus until {until_text}, 1 in use"
    )
    first = page.get_by_test_id("activity-line").first
    expect(first).to_contain_text(f"Bonus credits Sorry for Tuesday's outage · until {until_text}")
    expect(page.locator("main")).not_to_contain_text("ticket 77")
    expect(page.locator("main")).not_to_contain_text("support@example.com")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("−50")
    expect(rows.nth(0)).to_contain_text("24 credits")  # the bonus ends first: 74 − 50
    expect(rows.nth(1)).to_contain_text("25 credits")

    admin.goto(f"/admin/accounts/user/{customer.pk}/credits/deduct/")
    admin.get_by_label("Amount").fill("30")
    admin.get_by_label("Reason").fill("chargeback 5512")
    admin.get_by_label("Note for the user").fill("Payment reversed by your bank")
    admin.get_by_role("button", name="Deduct credits").click()
    expect(admin.locator(".messagelist")).to_contain_text("Deducted 30 credits")

    page.reload()
    expect(page.get_by_test_id(BALANCE_LINE)).to_have_text(
        f"44 credits: 25 from Free, 50 bonus until {until_text}, 1 in use, 30 deducted"
    )
    expect(page.get_by_test_id("activity-line").first).to_contain_text("Credits deducted Payment reversed by your bank")
    expect(page.get_by_test_id("activity-line").first.get_by_test_id("activity-amount")).to_have_text("−30")
    expect(page.get_by_test_id("activity-line")).to_have_count(4)
    expect(rows.nth(0)).to_contain_text("0 credits")  # 44 − 50: below 0, shown as 0
    expect(rows.nth(1)).to_contain_text("25 credits")  # the run and the deduction come back
    expect(page.get_by_test_id("pace")).to_contain_text("At your pace of the last 7 days")
    both_widths(page, screenshot, "credits-account-after-grant-and-deduction")


def test_the_low_balance_banner_appears_once_per_crossing_with_its_dates(
    new_page, asgi_live_server, fake_openai, pickaxe, screenshot
):
    fake_openai.reply = "Short."
    user = UserFactory(email="lowish@example.com")
    for index in range(20):  # 5 left: at the threshold (20 % of 25), not below it
        open_run(pickaxe, user, f"setup-{index}")
    page = new_page(asgi_live_server, viewport=WIDE)
    log_in(page, user.email)
    expect(page.get_by_test_id(BANNER)).to_have_count(0)

    run_once(page, pickaxe)  # 5 → 4: crossed
    page.goto("/account/")
    banner = page.get_by_test_id(BANNER)
    expect(banner).to_have_count(1)
    expect(banner).to_contain_text("Your credits are low: 4 left, below your alert at 5")
    expect(banner).to_contain_text("you run out around")
    back = Entry.objects.filter(kind="use").order_by("created_at").first().expires_at
    # All 21 runs of today come back that day: not "back at 5".
    expect(banner.get_by_test_id("back-by")).to_have_text(f"25 credits back by {day(back)}")
    both_widths(page, screenshot, "credits-low-balance-banner")

    page.goto(f"/p/{pickaxe.slug}/")
    expect(page.get_by_test_id(BANNER)).to_have_count(1)
    expect(page.get_by_test_id("before-submit")).to_have_text(
        "4 credits left, below your alert at 5. When credits come back"
    )
    page.get_by_test_id(BANNER).get_by_role("button", name="Dismiss").click()
    expect(page).to_have_url(f"/p/{pickaxe.slug}/")
    expect(page.get_by_test_id(BANNER)).to_have_count(0)

    run_once(page, pickaxe)  # 4 → 3: still below, the same crossing
    page.goto("/account/")
    expect(page.get_by_test_id(BANNER)).to_have_count(0)
    assert LowBalanceAlert.objects.count() == 1
    assert OutgoingEmail.objects.filter(key__startswith="low-balance:").count() == 1


def test_submit_is_disabled_at_0_credits_and_the_page_says_when_the_next_one_returns(
    new_page, asgi_live_server, pickaxe, screenshot
):
    user = UserFactory(email="empty@example.com")
    credits.deduct(user, 25, reason="test")
    deduction = Entry.objects.get(kind="deduction")
    page = new_page(asgi_live_server, viewport=WIDE)
    log_in(page, user.email)
    page.goto(f"/p/{pickaxe.slug}/")
    expect(page.get_by_role("button", name="Submit")).to_be_disabled()
    when = format_date(timezone.localtime(deduction.expires_at), "j M \\a\\t H:i T")
    expect(page.get_by_test_id("before-submit")).to_contain_text(
        f"You have no credits left: your next credit comes back on {when}."
    )
    both_widths(page, screenshot, "credits-submit-disabled-at-0")


def test_an_owner_sees_what_their_embed_spends_and_its_low_balance_banner_on_the_usage_page(
    new_page, asgi_live_server, pickaxe, screenshot
):
    owner = pickaxe.owner
    embed = Embed.objects.create(pickaxe=pickaxe, runs_per_visitor=0, runs_per_ip_per_day=0)
    for index in range(17):
        open_run(pickaxe, owner, f"own-{index}")
    for index in range(4):  # 8 → 4: the last embed run crosses the threshold of 5
        start_embed_run(
            embed=embed,
            visitor_id=f"{index:032x}",
            visitor_ip="203.0.113.9",
            inputs={"topic": "x"},
            submission_key=f"s{index}",
        )
    page = new_page(asgi_live_server, viewport=WIDE)
    log_in(page, owner.email)
    page.goto(f"/studio/{pickaxe.slug}/usage/")
    banner = page.get_by_test_id(BANNER)
    expect(banner).to_contain_text("Your credits are low: 4 left, below your alert at 5 (after a run of your embed of")
    card = page.get_by_test_id("embed-credits")
    expect(card.get_by_test_id("embed-spent")).to_have_text("4")
    expect(card.get_by_test_id("embed-run-out")).to_be_visible()
    both_widths(page, screenshot, "credits-usage-embed-owner")


def test_the_run_that_spends_the_last_credit_leaves_submit_disabled(
    new_page, asgi_live_server, pickaxe, fake_openai, screenshot
):
    user = UserFactory(email="last@example.com")
    credits.deduct(user, 24, reason="test")  # 1 credit left
    page = new_page(asgi_live_server, viewport=WIDE)
    log_in(page, user.email)
    page.goto(f"/p/{pickaxe.slug}/")
    button = page.get_by_role("button", name="Submit")
    expect(button).to_be_enabled()
    run_once(page, pickaxe)
    expect(page.get_by_test_id("credit-balance").first).to_have_text("0")
    expect(button).to_be_disabled()
    expect(page.get_by_test_id("before-submit")).to_have_text("You have no credits left. When credits come back")
    both_widths(page, screenshot, "credits-submit-disabled-after-the-last-run")
