"""Staff grant credits in the admin; the user sees them on their account page."""

import pytest
from playwright.sync_api import expect

from credits.models import Entry
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, email):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_a_staff_member_grants_50_bonus_credits_and_the_user_sees_75(page, new_page, live_server, screenshot):
    staff = UserFactory(email="support@example.com", is_staff=True, is_superuser=True)
    customer = UserFactory(email="customer@example.com")

    page.goto("/admin/login/")
    page.get_by_label("Email address").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/admin/accounts/user/{customer.pk}/change/")
    screenshot("admin-user-page")
    page.get_by_role("link", name="Grant bonus credits").click()
    page.get_by_label("Amount").fill("50")
    expect(page.get_by_label("Reason")).to_have_attribute("required", "")  # the server checks too
    page.get_by_label("Reason").fill("Sorry for the outage on Tuesday")
    screenshot("admin-grant-form")
    page.get_by_role("button", name="Grant bonus credits").click()
    expect(page.locator(".messagelist")).to_contain_text("Granted 50 bonus credits")
    entry = Entry.objects.get(kind="bonus")
    assert (entry.staff, entry.note) == (staff, "Sorry for the outage on Tuesday")

    customer_page = new_page(live_server)
    log_in(customer_page, customer.email)
    expect(customer_page).to_have_url("/account/")
    expect(customer_page.locator("main [data-testid=credit-balance]")).to_have_text("75")
    screenshot("account-after-grant", customer_page)
