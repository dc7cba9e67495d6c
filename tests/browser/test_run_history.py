"""Issue 13 in Chromium: the stream reads as formatted text while it is written; Copy puts
an output on the clipboard (the pickaxe page, a past run's page, an embed on another
site); the run history leads from the list to a run and back to the form, filled in.

The pickaxe is `pickaxe` from conftest.py (Topic, Tone, Details); the model is the fake
OpenAI server (`fake_openai`).
"""

import re

import pytest
from playwright.sync_api import expect

from embeds import services as embed_services
from embeds.services import embed_for
from pickaxes import services
from tests.browser.test_embed import FRAME, HostSite, owner_snippet, run_in_frame
from tests.browser.test_run_pickaxe import ERROR, OUTPUT, fill_form, log_in
from tests.factories import UserFactory
from tests.pickaxes.factories import open_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ANSWER = (
    "## Gulls at dawn\n\nGrey **gulls** over the harbour, salt on the wind.\n\n"
    "- the tide comes in\n- the boats go out\n- the mill turns once more\n\n"
    "And every sparrow knows the way back home tonight."
)
AS_SHOWN = (
    "Gulls at dawn\n\nGrey gulls over the harbour, salt on the wind.\n\n"
    "the tide comes in\nthe boats go out\nthe mill turns once more\n\n"
    "And every sparrow knows the way back home tonight."
)
CLIPBOARD = ["clipboard-read", "clipboard-write"]


def clipboard(page):
    return page.evaluate("navigator.clipboard.readText()")


def same_text(text):
    """Text as a reader sees it: blank lines and list bullets aside."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def widths(page, screenshot, name):
    """Screenshots at 1280 and 390 px wide, then back to 1280."""
    page.set_viewport_size({"width": 1280, "height": 800})
    screenshot(f"{name}-1280", page)
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(f"{name}-390", page)
    page.set_viewport_size({"width": 1280, "height": 800})


def test_the_stream_shows_formatted_markdown_and_copy_puts_the_output_on_the_clipboard(
    new_page, asgi_live_server, fake_openai, pickaxe, screenshot
):
    page = new_page(asgi_live_server, permissions=CLIPBOARD)
    fake_openai.reply = ANSWER
    fake_openai.chunk_delay = 0.12
    user = UserFactory(email="reader@example.com")
    log_in(page, user.email)
    expect(page).to_have_url("/account/")
    page.goto(f"/p/{pickaxe.slug}/")
    fill_form(page)
    page.get_by_role("button", name="Submit").click()

    # While the model writes: a heading already, and never a raw Markdown marker.
    streaming = page.locator(f"{OUTPUT}.streaming")
    expect(streaming.locator("h2")).to_have_text("Gulls at dawn")
    expect(streaming.locator("li").first).to_be_visible(timeout=15_000)
    text = streaming.inner_text()
    assert "##" not in text and "**" not in text and "- the" not in text
    assert fake_openai.requests[0]["outcome"] is None, "the model had already finished"
    widths(page, screenshot, "issue13-stream-while-writing")

    output = page.locator(OUTPUT)
    expect(output).not_to_have_class(re.compile(r"\bstreaming\b"))
    expect(output.locator("strong")).to_have_text("gulls")
    expect(page.locator(ERROR)).to_have_count(0)
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied.")).to_be_visible()
    assert same_text(clipboard(page)) == same_text(AS_SHOWN)
    widths(page, screenshot, "issue13-run-copied")


def test_the_history_leads_from_the_list_to_a_run_and_back_to_the_form_filled_in(
    new_page, live_server, pickaxe, screenshot
):
    page = new_page(live_server, permissions=CLIPBOARD)
    user = UserFactory(email="historian@example.com")
    log_in(page, user.email)
    expect(page).to_have_url("/account/")
    page.goto("/account/runs/")
    expect(page.get_by_text("No runs yet.")).to_be_visible()
    widths(page, screenshot, "issue13-run-history-empty")

    inputs = {"topic": "the lighthouse", "tone": "Playful", "details": "Two short stanzas,\nno rhyme."}
    older = open_run(pickaxe, user, "i" * 20, inputs={"topic": "rain", "tone": "Serious", "details": ""})
    services.fail_run(older, error="The model did not answer in time.")
    run = open_run(pickaxe, user, "h" * 20, inputs=inputs)
    services.finish_run(run, output=ANSWER, model="gpt-4o-mini", prompt_tokens=20, completion_tokens=40)

    # The account page's recent runs open the run, not the form.
    page.goto("/account/")
    page.get_by_test_id("recent-runs").get_by_role("link", name="Haiku helper").first.click()
    expect(page).to_have_url(f"/account/runs/{run.pk}/")

    page.goto("/account/runs/")
    rows = page.get_by_test_id("run-history").locator("li")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("the lighthouse")
    expect(rows.first).to_contain_text("succeeded, 1 credit")
    expect(rows.nth(1)).to_contain_text("failed, not charged")
    widths(page, screenshot, "issue13-run-history")

    rows.first.get_by_role("link", name="Open").click()
    expect(page).to_have_url(f"/account/runs/{run.pk}/")
    expect(page.get_by_test_id("run-inputs")).to_contain_text("the lighthouse")
    expect(page.locator(OUTPUT).locator("h2")).to_have_text("Gulls at dawn")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied.")).to_be_visible()
    assert same_text(clipboard(page)) == same_text(AS_SHOWN)
    widths(page, screenshot, "issue13-run-detail")

    page.get_by_role("link", name="Run again with these inputs").click()
    expect(page).to_have_url(f"/p/{pickaxe.slug}/?again={run.pk}")
    expect(page.get_by_label("Topic")).to_have_value("the lighthouse")
    expect(page.get_by_label("Tone")).to_have_value("Playful")
    expect(page.get_by_label("Details")).to_have_value("Two short stanzas,\nno rhyme.")


def test_copy_in_an_embed_on_another_site_puts_the_output_on_the_clipboard(
    new_page, asgi_live_server, settings, fake_openai, pickaxe
):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    asgi_live_server.embed_origin = f"http://localhost:{asgi_live_server.port}"
    embed_for(pickaxe)
    fake_openai.reply = ANSWER
    site = HostSite()
    try:
        host_url = site.serve("/poems.html", owner_snippet(asgi_live_server, pickaxe))
        page = new_page(asgi_live_server, permissions=CLIPBOARD)
        page.goto(host_url)
        frame = run_in_frame(page, topic="the harbour")
        expect(frame.locator(OUTPUT).locator("h2")).to_have_text("Gulls at dawn")
        frame.get_by_role("button", name="Copy").click()
        expect(frame.get_by_text("Copied.")).to_be_visible()
        assert same_text(clipboard(page)) == same_text(AS_SHOWN)
        assert 'allow="clipboard-write"' in page.locator(FRAME).evaluate("frame => frame.outerHTML")
    finally:
        site.stop()


def test_the_404_page_is_the_sites_own_with_debug_off(page, settings, screenshot, db):
    settings.DEBUG = False
    response = page.goto("/no/such/page/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_role("link", name="Browse pickaxes")).to_have_attribute("href", "/")
    expect(page.locator("body")).not_to_contain_text("URLconf")
    expect(page.locator("link[rel=icon]")).to_have_attribute("href", "/static/img/favicon.svg")
    widths(page, screenshot, "issue13-404")


def test_the_other_error_pages_in_the_site_layout(page, live_server, screenshot, db):
    from django.test import RequestFactory
    from django.views.defaults import server_error

    page.goto("/")
    page.set_content(server_error(RequestFactory().get("/")).content.decode())
    expect(page.get_by_role("heading", name="Something went wrong on our side")).to_be_visible()
    widths(page, screenshot, "issue13-500")
    response = page.request.get("/", headers={"Host": "evil.example"})
    assert response.status == 400
    page.set_content(response.text())
    expect(page.get_by_role("heading", name="That request could not be read")).to_be_visible()
    widths(page, screenshot, "issue13-400")


def test_the_login_and_signup_pages_in_the_sites_words(page, pickaxe, screenshot):
    page.goto(f"/accounts/login/?next=/p/{pickaxe.slug}/")
    expect(page.get_by_role("heading", name="Log in to run Haiku helper")).to_be_visible()
    expect(page.get_by_label("Keep me logged in on this device")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("Sign In")
    widths(page, screenshot, "issue13-login-for-pickaxe")
    page.get_by_role("link", name="Sign up").last.click()
    expect(page.get_by_role("heading", name="Sign up to run Haiku helper")).to_be_visible()
    widths(page, screenshot, "issue13-signup-for-pickaxe")
    page.goto("/accounts/password/reset/")
    widths(page, screenshot, "issue13-password-reset")


def test_the_owners_usage_page_and_the_new_pickaxe_page(page, pickaxe, fake_openai, screenshot, settings):
    embed = embed_for(pickaxe)
    embed.runs_per_visitor = 1
    embed.save()
    for attempt in range(3):  # one run, then the visitor's limit refuses two
        try:
            started = embed_services.start_embed_run(
                embed=embed,
                visitor_id="a" * 32,
                visitor_ip="hashed-address",
                inputs={"topic": "a quiet bay", "tone": "Serious"},
                submission_key=f"{attempt}" * 20,
            )
        except embed_services.EmbedRefused:
            continue
        services.finish_run(started.run, output="A bay.", model="m", prompt_tokens=1, completion_tokens=1)
    site_user = UserFactory(email="someone@example.com")
    run = open_run(pickaxe, site_user, "u" * 20, inputs={"topic": "x", "tone": "Serious"})
    services.finish_run(run, output="ok", model="m", prompt_tokens=1, completion_tokens=1)

    log_in(page, pickaxe.owner.email)
    expect(page).to_have_url("/account/")
    page.goto(f"/studio/{pickaxe.slug}/usage/")
    insight = page.get_by_test_id("embed-insight")
    expect(insight.locator("[data-reason=visitor]")).to_have_text("2")
    expect(page.get_by_test_id("embed-visitors")).to_have_text("1")
    expect(page.get_by_test_id("usage-runs")).to_contain_text("an embed visitor")
    expect(page.locator("body")).not_to_contain_text("someone@example.com")
    widths(page, screenshot, "issue13-usage")

    page.goto("/studio/new/")
    page.get_by_role("button", name="+ Add a field").click()
    page.locator("input[name=fields-0-label]").fill("Your topic, please")
    expect(page.locator("input[name=fields-0-key]")).to_have_value("your_topic_please")
    page.locator("input[name=fields-0-key]").fill("subject")
    page.locator("input[name=fields-0-label]").fill("Subject")
    expect(page.locator("input[name=fields-0-key]")).to_have_value("subject")
    widths(page, screenshot, "issue13-studio-new")

    page.goto("/billing/")
    widths(page, screenshot, "issue13-billing")


def test_the_account_management_pages_in_the_site_layout(page, screenshot, db):
    user = UserFactory(email="manager@example.com")
    log_in(page, user.email)
    expect(page).to_have_url("/account/")
    page.goto("/accounts/password/change/")
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
    widths(page, screenshot, "issue13-password-change")
    page.goto("/accounts/email/")
    expect(page.locator("body")).not_to_contain_text("Menu:")
    widths(page, screenshot, "issue13-email")
    page.goto("/accounts/logout/")
    expect(page.get_by_role("heading", name="Log out")).to_be_visible()
    widths(page, screenshot, "issue13-logout")
