"""The embed owner's page in Chromium: a new address asked for first and the old snippet
saying "moved"; websites refused by the allowed domains, reported by the browser itself and
listed for the owner with an Allow button; the resting state at 0 credits.

Screenshots at 1280 and 390 px go to /tmp/shots-embedsui/ (or $SHOTS_DIR), for people to look at.
"""

import os
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from credits import services as credit_services
from embeds.models import ApiRun, Embed, RefusedHost
from embeds.services import create_api_key
from pickaxes import services as pickaxe_services
from pickaxes.models import Run
from tests.browser import test_embed as embed_tests
from tests.browser.test_embed import FRAME, MARK_LOAD, owner_snippet, run_in_frame, visitor_on
from tests.factories import PASSWORD
from tests.pickaxes.factories import open_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The embed tests' fixtures: the app also as http://localhost, a stranger's website, the embed.
app, host_site, embed = embed_tests.app, embed_tests.host_site, embed_tests.embed

SHOTS = Path(os.environ.get("SHOTS_DIR", "/tmp/shots-embedsui"))
WIDTHS = {"1280": 1280, "390": 390}


@pytest.fixture(scope="module")
def browser():
    """Chromium sends Reporting API reports in batches, a minute apart by default: a short
    delay for the test (--short-reporting-delay is Chromium's switch for that)."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS
    from tests.conftest import CHROMIUM

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--short-reporting-delay"])
        yield browser
        browser.close()


def shoot(page, name):
    """Full-page screenshots at both widths; the page is left at 1280 px."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 800})
        page.wait_for_timeout(150)
        page.screenshot(path=SHOTS / f"{name}-{label}.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


def owner_on(new_page, app, pickaxe):
    page = new_page(SimpleNamespace(url=app.embed_origin))  # the app as http://localhost
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(pickaxe.owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/account/$"))
    return page


def wait_for(condition, seconds=20):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_refused_website_is_reported_by_the_browser_and_the_owner_allows_it(
    app, host_site, new_page, fake_openai, pickaxe, embed
):
    snippet = owner_snippet(app, pickaxe)
    embed.allowed_domains = "example.com"
    embed.save()
    # A host page that sends a Referer: the embed view refuses it (403) and counts it.
    poems = host_site.serve("/poems.html", snippet, head=MARK_LOAD)
    visitor = new_page(app)
    with visitor.expect_response(lambda r: "/e/" in r.url) as info:
        visitor.goto(poems)
    assert info.value.status == 403
    # A page that sends none: only the browser's frame-ancestors check refuses it, and its
    # CSP report (which cannot name the site) tells the owner.
    quiet = host_site.serve("/quiet.html", snippet, head='<meta name="referrer" content="no-referrer">' + MARK_LOAD)
    with visitor.expect_response(lambda r: "/e/" in r.url) as info:
        visitor.goto(quiet)
    assert info.value.status == 200
    wait_for(lambda: RefusedHost.objects.filter(embed=embed).count() == 2)
    assert {row.host: row.count for row in RefusedHost.objects.all()} == {"127.0.0.1": 1, "": 1}

    owner = owner_on(new_page, app, pickaxe)
    owner.goto(f"/studio/{pickaxe.slug}/embed/")
    refused = owner.get_by_test_id("refused-sites")
    expect(refused).to_contain_text("127.0.0.1")
    expect(refused).to_contain_text("a website that hides its address")
    refused.scroll_into_view_if_needed()
    shoot(owner, "embed-refused-sites")

    owner.get_by_role("button", name="Allow 127.0.0.1").click()
    expect(owner.get_by_text("127.0.0.1 is now an allowed domain")).to_be_visible()
    expect(owner.get_by_label("Allowed domains")).to_have_value("example.com\n127.0.0.1")
    assert Embed.objects.get().domains() == ["example.com", "127.0.0.1"]
    expect(owner.get_by_role("button", name="Allow 127.0.0.1")).to_have_count(0)
    shoot(owner, "embed-after-allow")

    visitor.goto(poems)
    frame = visitor.frame_locator(FRAME)
    expect(frame.get_by_role("button", name="Submit")).to_be_visible()
    run_in_frame(visitor)
    expect(frame.locator("[data-testid=run-output]")).to_contain_text("Hello from the fake model")


def test_the_owner_confirms_a_new_address_and_the_old_snippet_says_the_tool_has_moved(
    app, host_site, new_page, fake_openai, pickaxe, embed
):
    old_token = embed.token
    poems = host_site.serve("/poems.html", owner_snippet(app, pickaxe), head=MARK_LOAD)
    open_before = visitor_on(new_page, app, poems)  # a visitor with the page open meanwhile
    expect(open_before.frame_locator(FRAME).get_by_role("button", name="Submit")).to_be_visible()

    owner = owner_on(new_page, app, pickaxe)
    owner.goto(f"/studio/{pickaxe.slug}/embed/")
    owner.get_by_role("link", name="Make a new address…").click()
    expect(owner.get_by_role("heading", name="Make a new address for this embed?")).to_be_visible()
    expect(owner.get_by_test_id("rotate-confirm")).to_contain_text("This tool has moved.")
    shoot(owner, "embed-rotate-confirm")

    owner.get_by_role("link", name="Keep the current address").click()
    expect(owner.get_by_role("heading", name="Embed “Haiku helper”")).to_be_visible()
    assert Embed.objects.get().token == old_token

    owner.get_by_role("link", name="Make a new address…").click()
    owner.get_by_role("button", name="Make a new address").click()
    expect(owner.get_by_text("now tells visitors that the tool has moved")).to_be_visible()
    new_token = Embed.objects.get().token
    assert new_token != old_token
    assert f"/e/{new_token}/" in owner.get_by_test_id("embed-snippet").input_value()
    shoot(owner, "embed-after-rotate")

    # The open page's Submit runs nothing: the frame says the tool has moved.
    run_in_frame(open_before)
    expect(open_before.frame_locator(FRAME).locator("[data-testid=run-error]")).to_have_text(
        "This tool has moved. The site's owner needs to update it."
    )
    # Reloaded, the old snippet shows the same, framed (not the browser's broken frame).
    with open_before.expect_response(lambda r: f"/e/{old_token}/" in r.url) as info:
        open_before.reload()
    assert info.value.status == 410
    moved = open_before.frame_locator(FRAME).get_by_test_id("embed-moved")
    expect(moved).to_have_text("This tool has moved. The site's owner needs to update it.")
    expect(open_before.frame_locator(FRAME).locator("body")).not_to_contain_text("Haiku helper")
    shoot(open_before, "old-snippet-moved")
    assert not Run.objects.exists() and not fake_openai.requests


def test_at_0_credits_the_owner_is_told_where_they_work_and_the_preview_rests(app, new_page, pickaxe, embed):
    owner_user = pickaxe.owner
    credit_services.set_allowance(owner_user, 1, reason="test")
    credit_services.spend(owner_user, key="the-last-one")

    owner = owner_on(new_page, app, pickaxe)
    owner.goto("/studio/")
    expect(owner.get_by_test_id("embed-resting")).to_contain_text("your embeds are resting")
    expect(owner.get_by_test_id("embed-resting")).to_contain_text("until your next credit comes back on")
    shoot(owner, "studio-resting")
    owner.goto(f"/studio/{pickaxe.slug}/")
    expect(owner.get_by_test_id("embed-resting")).to_be_visible()
    shoot(owner, "studio-edit-resting")

    owner.goto(f"/studio/{pickaxe.slug}/embed/")
    expect(owner.get_by_test_id("embed-resting")).to_contain_text("This tool is resting. Please try again later.")
    preview = owner.frame_locator("iframe.preview-frame")
    expect(preview.locator("[data-testid=run-error]")).to_have_text("This tool is resting. Please try again later.")
    expect(preview.get_by_role("button", name="Submit")).to_have_count(0)
    shoot(owner, "embed-resting")


def test_the_owners_run_history_usage_and_api_keys_pages_at_both_widths(app, new_page, pickaxe, embed):
    owner_user = pickaxe.owner
    key = create_api_key(owner=owner_user, name="the newsletter backend (production)", runs_per_end_user=5)
    for n, source in enumerate(["site", "embed", "api", "test"]):
        run = open_run(pickaxe, owner_user, f"history-run-{n:08d}", source=source, inputs={"topic": f"topic {n}"})
        pickaxe_services.finish_run(run, output="Done.", model="m", prompt_tokens=1, completion_tokens=1)
        if source == "api":
            ApiRun.objects.create(
                run=run,
                key=key.key,
                end_user="customer-with-a-long-name@example.org",
                body_hash="x",
                started_at=run.started_at,
            )

    owner = owner_on(new_page, app, pickaxe)
    owner.goto("/account/runs/")
    sources = owner.get_by_test_id("run-source")
    expect(sources).to_have_text(["test", "API", "embed"])
    shoot(owner, "run-history")

    owner.goto(f"/studio/{pickaxe.slug}/usage/")
    expect(owner.get_by_test_id("api-usage")).to_contain_text("the newsletter backend")
    shoot(owner, "usage")
    owner.set_viewport_size({"width": 390, "height": 800})
    assert fits(owner, "api-usage")
    owner.set_viewport_size({"width": 1280, "height": 800})

    owner.goto("/account/api-keys/")
    expect(owner.get_by_test_id("api-keys")).to_contain_text("the newsletter backend")
    shoot(owner, "api-keys")
    owner.set_viewport_size({"width": 390, "height": 800})
    assert fits(owner, "api-keys")


def fits(page, testid):
    """Whether the table is as narrow as its box: nothing of it is cut off or hidden in a
    sideways scroll, and the page itself does not scroll sideways."""
    return page.evaluate(
        """(testid) => {
            const table = document.querySelector(`[data-testid=${testid}]`);
            const box = table.parentElement.getBoundingClientRect();
            return table.getBoundingClientRect().right <= box.right + 1
                && document.documentElement.scrollWidth <= window.innerWidth;
        }""",
        testid,
    )
