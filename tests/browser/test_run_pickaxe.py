"""Running a public pickaxe in Chromium, against the ASGI app (the output streams).

The pickaxe is `pickaxe` from conftest.py (public, owned by someone else). The model is
the fake OpenAI server (`fake_openai`), which streams its reply one word per chunk with
`chunk_delay` seconds between chunks.
"""

import re

import pytest
from django.template.defaultfilters import date as format_date
from django.utils import timezone
from playwright.sync_api import expect

from credits import services as credits
from credits.models import Entry
from pickaxes.models import Run
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPLY = (
    "Morning light on stone, a quiet river hums along, the old mill turns once more, "
    "and every sparrow knows the way back home tonight."
)
HEADER_BALANCE = "header [data-testid=credit-balance]"
OUTPUT = "[data-testid=run-output]"
ERROR = "[data-testid=run-error]"


def sign_up(page, email):
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill(email)
    page.locator("input[name=password1]").fill("a-long-passphrase-9")
    page.locator("input[name=password2]").fill("a-long-passphrase-9")
    page.get_by_role("button", name="Sign Up").click()
    expect(page).to_have_url("/account/")


def log_in(page, email, *, open_form=True):
    if open_form:
        page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def fill_form(page, *, topic="the sea", tone="Serious", details="Mention gulls."):
    page.get_by_label("Topic").fill(topic)
    page.get_by_label("Tone").select_option(tone)
    page.get_by_label("Details").fill(details)


def test_signed_up_user_sees_the_output_stream_in_and_pays_one_credit(asgi_page, fake_openai, pickaxe, screenshot):
    page = asgi_page
    fake_openai.reply = REPLY
    fake_openai.chunk_delay = 0.15  # 24 words: about 3.5 s of streaming

    sign_up(page, "runner@example.com")
    page.goto(f"/p/{pickaxe.slug}/")
    expect(page.get_by_role("heading", name="Haiku helper")).to_be_visible()
    expect(page.locator(HEADER_BALANCE)).to_have_text("25")
    fill_form(page)
    screenshot("run-pickaxe-before-submit", page)

    page.get_by_role("button", name="Submit").click()

    # Part of the answer is on the page while the model is still writing the rest.
    streaming = page.locator(f"{OUTPUT}.streaming")
    page.wait_for_function(
        """([selector, full]) => {
            const el = document.querySelector(selector);
            return el && el.textContent.length > 0 && el.textContent.length < full;
        }""",
        arg=[f"{OUTPUT}.streaming", len(REPLY)],
    )
    partial = streaming.text_content()
    assert partial and REPLY.startswith(partial)
    assert len(fake_openai.requests) == 1
    assert fake_openai.requests[0]["outcome"] is None, "the model had already finished"
    expect(page.get_by_role("button", name="Submit")).to_be_disabled()
    screenshot("run-pickaxe-streaming", page)

    # The end: the whole answer, rendered, and the balance down by one.
    output = page.locator(OUTPUT)
    expect(output).not_to_have_class(re.compile(r"\bstreaming\b"))
    expect(output).to_have_text(REPLY)
    expect(page.locator(ERROR)).to_have_count(0)
    expect(page.locator(HEADER_BALANCE)).to_have_text("24")
    expect(page.get_by_role("button", name="Submit")).to_be_enabled()
    assert fake_openai.requests[0]["outcome"] == "completed"
    prompt = fake_openai.requests[0]["json"]["messages"][-1]["content"]
    assert prompt == "Write a poem about the sea in a Serious tone. Mention gulls."
    screenshot("run-pickaxe-after-run", page)

    page.set_viewport_size({"width": 375, "height": 740})
    screenshot("run-pickaxe-after-run-mobile", page)
    page.set_viewport_size({"width": 1280, "height": 720})

    # The run is on the account page, charged one credit.
    page.goto("/account/")
    expect(page.locator("main [data-testid=credit-balance]")).to_have_text("24")
    runs = page.get_by_test_id("recent-runs").locator("li")
    expect(runs).to_have_count(1)
    expect(runs.first).to_contain_text("Haiku helper")
    expect(runs.first).to_contain_text("succeeded, 1 credit")
    expect(page.get_by_test_id("timeline-day")).to_contain_text("+1")
    screenshot("run-account-with-runs", page)

    run = Run.objects.get()
    assert run.payer.email == "runner@example.com"  # the person who pressed Submit, not the owner
    assert run.status == Run.Status.SUCCEEDED and run.output == REPLY


def test_out_of_credits_is_refused_with_the_return_date_and_no_model_call(asgi_page, fake_openai, pickaxe, screenshot):
    page = asgi_page
    fake_openai.reply = "A short answer."
    user = UserFactory(email="thrifty@example.com")
    credits.set_allowance(user, 1, reason="test")

    log_in(page, user.email)
    # A second tab, opened while there was still a credit: its Submit is on.
    other_tab = page.context.new_page()
    other_tab.goto(f"/p/{pickaxe.slug}/")
    fill_form(other_tab)
    page.goto(f"/p/{pickaxe.slug}/")
    expect(page.locator(HEADER_BALANCE)).to_have_text("1")
    fill_form(page)
    page.get_by_role("button", name="Submit").click()
    expect(page.locator(OUTPUT)).to_have_text("A short answer.")
    expect(page.locator(HEADER_BALANCE)).to_have_text("0")
    expect(page.get_by_role("button", name="Submit")).to_be_disabled()  # this tab knows
    assert len(fake_openai.requests) == 1

    page.close()
    page = other_tab  # the server refuses the other tab's run
    page.get_by_role("button", name="Submit").click()

    use = Entry.objects.get(account__user=user, kind=Entry.Kind.USE)
    comes_back = format_date(timezone.localtime(use.expires_at), "j M")
    error = page.locator(ERROR)
    expect(error).to_contain_text("You are out of credits.")
    expect(error).to_contain_text(f"comes back on {comes_back}")
    expect(error.get_by_role("link", name="Get more credits")).to_have_attribute("href", "/billing/")
    expect(page.locator(OUTPUT)).to_have_count(0)
    expect(page.locator(HEADER_BALANCE)).to_have_text("0")
    screenshot("run-pickaxe-refused", page)

    assert len(fake_openai.requests) == 1, "the refused run reached the model"
    assert Run.objects.filter(payer=user).count() == 1
    assert Entry.objects.filter(account__user=user, kind=Entry.Kind.USE).count() == 1


def test_anonymous_visitor_logs_in_and_comes_back_to_the_form_as_typed(asgi_page, fake_openai, pickaxe, screenshot):
    page = asgi_page
    user = UserFactory(email="visitor@example.com")

    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"/p/{pickaxe.slug}/")
    expect(page.get_by_text("You will be asked to log in when you submit")).to_be_visible()
    screenshot("run-pickaxe-anonymous-mobile", page)
    fill_form(page, topic="autumn leaves", tone="Playful", details="Four lines,\nno rhyme.")
    page.get_by_role("button", name="Submit").click()

    expect(page).to_have_url(f"/accounts/login/?next=/p/{pickaxe.slug}/")
    log_in(page, user.email, open_form=False)

    expect(page).to_have_url(f"/p/{pickaxe.slug}/")
    expect(page.locator(HEADER_BALANCE)).to_have_text("25")
    expect(page.get_by_label("Topic")).to_have_value("autumn leaves")
    expect(page.get_by_label("Tone")).to_have_value("Playful")
    expect(page.get_by_label("Details")).to_have_value("Four lines,\nno rhyme.")
    assert fake_openai.requests == []
    assert not Run.objects.exists()


def test_without_javascript_the_page_comes_back_whole_with_the_output(
    new_page, asgi_live_server, fake_openai, pickaxe, screenshot
):
    page = new_page(asgi_live_server, java_script_enabled=False)
    fake_openai.reply = REPLY
    fake_openai.chunk_delay = 0.01
    user = UserFactory(email="nojs@example.com")

    log_in(page, user.email)
    expect(page).to_have_url("/account/")
    page.goto(f"/p/{pickaxe.slug}/")
    fill_form(page, topic="snow", tone="Cheerful", details="")
    page.get_by_role("button", name="Submit").click()

    expect(page).to_have_url(f"/p/{pickaxe.slug}/run/")
    expect(page.locator(OUTPUT)).to_have_text(REPLY)
    expect(page.locator(ERROR)).to_have_count(0)
    expect(page.locator(HEADER_BALANCE)).to_have_text("24")
    # The form comes back with what was typed, ready for another run.
    expect(page.get_by_label("Topic")).to_have_value("snow")
    expect(page.get_by_label("Tone")).to_have_value("Cheerful")
    screenshot("run-pickaxe-no-javascript", page)
    assert fake_openai.requests[0]["outcome"] == "completed"
    assert Run.objects.get().payer == user
