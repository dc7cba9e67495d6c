"""Findings of a probe and a newcomer, in Chromium at 1280 and 390 px against the ASGI app
with the offline demo model: a pickaxe whose field keys are the run form's own names runs
on its page and in its embed, and the demo answer shows none of its hidden prompt; the
demo's "Length in words" refuses what it says it will not take; the API guide's examples
name the demo's pickaxes and their own fields."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from embeds.services import embed_for
from pickaxes.models import InputField, Pickaxe, Run
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_credits_account import log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = [1280, 390]
OUTPUT = "[data-testid=run-output]"
TEMPLATE = "Compose a melancholy sonnet concerning {{pickaxe}} in a {{mode}} mood, iambic pentameter."
SYSTEM = "Speak like Captain Ahab aboard the Pequod."
HIDDEN = re.compile(r"melancholy|sonnet|iambic|pentameter|Ahab|Pequod|Compose", re.I)


@pytest.fixture
def demo_model(settings):
    settings.OPENAI_API_KEY = ""
    settings.DEMO_MODEL_DELAY_SECONDS = 0.01


@pytest.fixture
def odd_keys(db):
    """A public pickaxe whose fields are keyed `pickaxe` and `mode`."""
    pickaxe = Pickaxe.objects.create(
        owner=UserFactory(email="maker@example.com"),
        name="Sonnet smith",
        slug="sonnet-smith",
        visibility=Pickaxe.Visibility.PUBLIC,
        system_instructions=SYSTEM,
        prompt_template=TEMPLATE,
        model="gpt-4o-mini",
    )
    InputField.objects.create(pickaxe=pickaxe, position=0, label="Subject", key="pickaxe", max_length=100)
    InputField.objects.create(
        pickaxe=pickaxe, position=1, label="Mood", key="mode", kind=InputField.Kind.CHOICE, choices="Calm\nStormy"
    )
    return pickaxe


def no_overflow(page):
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0


@pytest.mark.parametrize("width", WIDTHS)
def test_fields_keyed_like_the_forms_own_names_run_and_the_demo_answer_hides_the_prompt(
    new_page, asgi_live_server, demo_model, odd_keys, screenshot, width
):
    runner = UserFactory(email="runner@example.com")
    page = new_page(asgi_live_server, viewport={"width": width, "height": 900})
    log_in(page, runner.email)
    page.goto(f"/p/{odd_keys.slug}/")
    page.get_by_label("Subject").fill("the sea")
    page.get_by_label("Mood").select_option("Stormy")
    page.get_by_role("button", name="Submit").click()
    output = page.locator(f"{OUTPUT}:not(.streaming)")
    expect(output).to_contain_text("Demo answer")
    expect(output).not_to_contain_text(HIDDEN)
    assert no_overflow(page)
    screenshot(f"keys-site-run-{width}", page)
    run = Run.objects.get()
    assert (run.source, run.status, run.inputs) == ("site", "succeeded", {"pickaxe": "the sea", "mode": "Stormy"})

    embed = embed_for(odd_keys)
    visitor = new_page(asgi_live_server, viewport={"width": width, "height": 900})
    visitor.goto(f"/e/{embed.token}/")
    visitor.get_by_label("Subject").fill("the hills")
    visitor.get_by_label("Mood").select_option("Calm")
    visitor.get_by_role("button", name="Submit").click()
    output = visitor.locator(f"{OUTPUT}:not(.streaming)")
    expect(output).to_contain_text("Demo answer")
    expect(output).not_to_contain_text(HIDDEN)
    screenshot(f"keys-embed-run-{width}", visitor)
    embed_run = Run.objects.get(source="embed")
    assert embed_run.inputs == {"pickaxe": "the hills", "mode": "Calm"} and embed_run.status == "succeeded"


@pytest.mark.parametrize("width", WIDTHS)
def test_the_demo_length_in_words_refuses_5000_before_any_charge_and_runs_with_100(
    new_page, asgi_live_server, demo_model, screenshot, width
):
    call_command("demo_data", stdout=StringIO())
    runner = UserFactory(email="newcomer@example.com")
    page = new_page(asgi_live_server, viewport={"width": width, "height": 900})
    log_in(page, runner.email)
    page.goto("/p/explain-like-im-new/")
    page.get_by_label("Topic").fill("tides")
    words = page.get_by_label("Length in words")
    expect(words).to_have_attribute("min", "50")
    expect(words).to_have_attribute("max", "600")
    words.fill("5000")
    page.get_by_role("button", name="Submit").click()
    assert words.evaluate("input => input.validity.rangeOverflow")
    expect(page.locator(OUTPUT)).to_have_count(0)
    assert not Run.objects.exists()
    screenshot(f"demo-words-refused-{width}", page)
    words.fill("100")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator(f"{OUTPUT}:not(.streaming)")).to_contain_text("Demo answer")
    expect(page.locator("header [data-testid=credit-balance]")).to_have_text("24")
    screenshot(f"demo-words-ran-{width}", page)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_api_guide_shows_examples_of_the_demos_pickaxes_with_their_own_fields(
    new_page, asgi_live_server, screenshot, width
):
    call_command("demo_data", stdout=StringIO())
    page = new_page(asgi_live_server, viewport={"width": width, "height": 900})
    page.goto("/api/v1/docs/")
    curl = page.get_by_test_id("curl-example")
    expect(curl).to_contain_text("/api/v1/pickaxes/cold-email-writer/runs")
    expect(curl).to_contain_text('"tone": "Friendly"')
    expect(page.get_by_test_id("run-example").nth(0)).to_contain_text('"words": 50')
    expect(page.locator("main")).not_to_contain_text("/pickaxes/SLUG/")
    assert no_overflow(page)
    screenshot(f"api-docs-demo-{width}", page)
    page.locator("#start").screenshot(path=SCREENSHOTS / f"api-docs-demo-start-{width}.png")
