"""The admin's rough edges in Chromium: a ledger entry's delete page explains how to correct
an entry, and the index names every app once. Screenshots at 1280 and 390 px."""

import pytest
from playwright.sync_api import expect

from credits.models import Entry
from tests.browser.test_embed_owner import shoot
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_superuser_on_an_entrys_delete_page_is_told_how_to_correct_it(page):
    staff = UserFactory(email="root@example.com", is_staff=True, is_superuser=True)
    customer = UserFactory(email="customer@example.com")
    entry = Entry.objects.filter(account__user=customer).first()

    page.goto("/admin/login/")
    page.get_by_label("Email address").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#site-name")).to_be_visible()

    captions = page.locator("caption a.section").all_inner_texts()
    assert len(captions) == len(set(captions)), captions
    assert "SIGN-IN EMAIL ADDRESSES" in [caption.upper() for caption in captions]
    shoot(page, "admin-index")

    page.goto(f"/admin/credits/entry/{entry.pk}/delete/")
    notice = page.get_by_test_id("entry-never-deleted")
    expect(notice).to_contain_text("add a correcting entry")
    expect(page.locator("body")).not_to_contain_text("someone else")
    shoot(page, "admin-entry-delete")
    page.get_by_role("link", name="Grant bonus credits").click()
    expect(page).to_have_url(f"/admin/accounts/user/{customer.pk}/credits/grant/")
    assert Entry.objects.filter(pk=entry.pk).exists()
