"""Number fields' bounds in Chromium: set in the studio (shown for number fields only) and
shown on the run form."""

import pytest
from playwright.sync_api import expect

from pickaxes.models import InputField
from tests.browser.test_run_pickaxe import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_number_limits_the_studio_shows_bounds_for_number_fields_and_the_form_shows_the_range(
    asgi_page, pickaxe, screenshot
):
    page = asgi_page
    log_in(page, pickaxe.owner.email)
    page.goto(f"/studio/{pickaxe.slug}/")
    rows = page.locator("[data-field-row]")
    topic = rows.nth(0)
    expect(topic.locator("[data-number-bounds]")).to_be_hidden()
    topic.locator("select[name$='-kind']").select_option("number")
    expect(topic.locator("[data-number-bounds]")).to_be_visible()
    topic.get_by_label("Smallest number").fill("50")
    topic.get_by_label("Largest number").fill("600")
    screenshot("studio-number-bounds")
    page.get_by_role("button", name="Save").first.click()
    expect(page.locator("body")).to_contain_text("Saved.")
    field = InputField.objects.get(pickaxe=pickaxe, key="topic")
    assert (field.kind, field.min_value, field.max_value) == ("number", 50, 600)

    page.goto(f"/p/{pickaxe.slug}/")
    number = page.get_by_label("Topic")
    expect(number).to_have_attribute("min", "50")
    expect(number).to_have_attribute("max", "600")
