import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_lands_on_the_account_page_with_25_credits(page, screenshot):
    page.goto("/")
    page.get_by_role("link", name="Sign up").first.click()
    screenshot("signup")
    page.get_by_label("Email").fill("walker@example.com")
    page.locator("input[name=password1]").fill("a-long-passphrase-9")
    page.locator("input[name=password2]").fill("a-long-passphrase-9")
    page.get_by_role("button", name="Sign Up").click()

    expect(page).to_have_url("/account/")
    expect(page.locator("main [data-testid=credit-balance]")).to_have_text("25")
    expect(page.locator("header [data-testid=credit-balance]")).to_have_text("25")
    expect(page.get_by_test_id("balance-line")).to_have_text("25 credits: 25 from Free")
    expect(page.get_by_test_id("returns-timeline")).to_contain_text("Nothing to come back")
    screenshot("account-new-user")
    page.set_viewport_size({"width": 375, "height": 740})
    screenshot("account-new-user-mobile")
