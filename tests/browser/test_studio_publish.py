"""The studio in Chromium: Publish and Unpublish with one button, and a field editor that
shows only the settings of the chosen kind (all of them, with a note, without JavaScript)."""

import pytest
from playwright.sync_api import expect

from pickaxes.models import Pickaxe
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_run_pickaxe import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = [1280, 390]


def shoot(name, locator):
    """A screenshot of one part of a long page, where a whole-page one is too tall to read."""
    SCREENSHOTS.mkdir(exist_ok=True)
    locator.screenshot(path=SCREENSHOTS / f"{name}.png")


@pytest.mark.parametrize("width", WIDTHS)
def test_a_creator_publishes_from_the_studio_list_and_unpublishes_from_the_pickaxes_page(
    new_page, live_server, pickaxe, screenshot, width
):
    Pickaxe.objects.filter(pk=pickaxe.pk).update(visibility=Pickaxe.Visibility.PRIVATE)
    page = new_page(live_server, viewport={"width": width, "height": 900})
    log_in(page, pickaxe.owner.email)
    page.goto("/studio/")
    expect(page.locator("tbody")).to_contain_text("Private: only you")
    page.get_by_test_id("publish").click()
    expect(page.locator(".messages")).to_contain_text("“Haiku helper” is published")
    expect(page.locator("tbody")).to_contain_text("Published")
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    screenshot(f"studio-list-published-{width}", page)
    page.goto("/")
    expect(page.locator("main")).to_contain_text("Haiku helper")

    page.goto(f"/studio/{pickaxe.slug}/")
    expect(page.get_by_test_id("publish-bar")).to_contain_text("Published")
    page.get_by_test_id("unpublish").click()
    expect(page).to_have_url(f"/studio/{pickaxe.slug}/")
    expect(page.locator(".messages")).to_contain_text("is unpublished")
    expect(page.get_by_test_id("publish-bar")).to_contain_text("Private: only you")
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    screenshot(f"studio-edit-unpublished-{width}", page)
    page.set_viewport_size({"width": width, "height": 700})
    page.evaluate("window.scrollTo(0, 0)")
    shoot(f"studio-edit-top-{width}", page)
    pickaxe.refresh_from_db()
    assert pickaxe.visibility == Pickaxe.Visibility.PRIVATE


@pytest.mark.parametrize("width", WIDTHS)
def test_the_field_editor_shows_only_the_settings_of_the_chosen_kind(new_page, live_server, pickaxe, screenshot, width):
    page = new_page(live_server, viewport={"width": width, "height": 900})
    log_in(page, pickaxe.owner.email)
    page.goto(f"/studio/{pickaxe.slug}/")
    rows = page.locator("[data-field-row]")
    topic, tone = rows.nth(0), rows.nth(1)
    expect(topic.get_by_label("Max length")).to_be_visible()
    expect(topic.locator("[data-choices]")).to_be_hidden()
    expect(topic.locator("[data-kind-note]")).to_be_hidden()
    expect(tone.get_by_label("Choices, one per line")).to_be_visible()
    expect(tone.locator("[data-text-only]")).to_be_hidden()
    expect(tone.locator("[data-number-bounds]")).to_be_hidden()
    topic.locator("select[name$='-kind']").select_option("choice")
    expect(topic.locator("[data-text-only]")).to_be_hidden()
    expect(topic.get_by_label("Choices, one per line")).to_be_visible()
    topic.locator("select[name$='-kind']").select_option("number")
    expect(topic.locator("[data-number-bounds]")).to_be_visible()
    expect(topic.locator("[data-choices]")).to_be_hidden()
    screenshot(f"studio-field-kinds-{width}", page)
    shoot(f"studio-field-rows-{width}", page.locator("[data-field-list]"))


def test_without_javascript_every_setting_shows_with_a_note_of_which_kind_uses_which(
    new_page, live_server, pickaxe, screenshot
):
    page = new_page(live_server, viewport={"width": 390, "height": 900}, java_script_enabled=False)
    log_in(page, pickaxe.owner.email)
    page.goto(f"/studio/{pickaxe.slug}/")
    tone = page.locator("[data-field-row]").nth(1)
    expect(tone.locator("[data-kind-note]")).to_be_visible()
    expect(tone.locator("[data-kind-note]")).to_contain_text("choices to a choice")
    expect(tone.get_by_label("Max length")).to_be_visible()
    screenshot("studio-field-kinds-nojs-390", page)
    shoot("studio-field-row-nojs-390", tone)
