"""A past run's page, as its payer opens it from the account page (1280 and 390 px wide)."""

import pytest
from playwright.sync_api import expect

from pickaxes import services
from tests.browser.test_staff import log_in
from tests.factories import UserFactory
from tests.pickaxes.factories import PickaxeFactory, open_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 390])
def test_the_payer_opens_a_past_run_from_the_account_page(new_page, live_server, screenshot, width):
    reader = UserFactory(email="reader@example.com")
    pickaxe = PickaxeFactory(name="Haiku helper")
    run = open_run(pickaxe, reader, "h" * 20, inputs={"topic": "the harbour"})
    services.finish_run(
        run, output="## Gulls\n\nGrey wings over the quay.", model="m", prompt_tokens=1, completion_tokens=9
    )
    page = new_page(live_server, viewport={"width": width, "height": 800})
    log_in(page, reader.email)
    page.get_by_test_id("recent-runs").get_by_role("link", name="Haiku helper").click()
    expect(page).to_have_url(f"/account/runs/{run.pk}/")
    expect(page.locator("[data-testid=run-output]")).to_contain_text("Grey wings over the quay.")
    expect(page.get_by_text("the harbour")).to_be_visible()
    expect(page.locator("[data-testid=run-status]")).to_contain_text("1 credit")
    screenshot(f"run-page-{width}", page)
