"""Staff write two texts with a credit action: the reason (for staff) and a note for the user,
which is all the user reads of it in their activity."""

import pytest
from django.test import Client

from credits.models import Entry
from tests.pickaxes.pages import activity_lines

ACTION_URL = "/admin/accounts/user/{}/credits/{}/"


def account_page(user):
    """The user's account page, in a browser of their own (the staff's messages stay in theirs)."""
    browser = Client()
    browser.force_login(user)
    return browser.get("/account/").content.decode()


@pytest.fixture
def superuser(make_user):
    return make_user(email="root.admin@example.com", is_staff=True, is_superuser=True)


@pytest.mark.parametrize(
    ("action", "data", "line"),
    [
        ("grant", {"amount": "50", "expires_on": "2099-01-01"}, "Bonus credits Welcome back! · until 1 Jan"),
        ("deduct", {"amount": "3"}, "Credits deducted Welcome back! · back on "),
        (
            "allowance",
            {"change": "7"},
            "Allowance changed for good Welcome back! · 32 credits, each back 30 days after use",
        ),
    ],
)
def test_the_user_reads_the_note_for_them_never_the_reason_or_who(client, superuser, user, action, data, line):
    client.force_login(superuser)
    form = client.get(ACTION_URL.format(user.pk, action)).content.decode()
    assert "Note for the user" in form
    response = client.post(
        ACTION_URL.format(user.pk, action),
        {**data, "reason": "ticket 981: refund dispute", "user_note": "Welcome back!", "apply": "1"},
    )
    assert response.status_code == 302
    entry = Entry.objects.exclude(kind="allowance", staff__isnull=True).get()
    assert (entry.note, entry.user_note, entry.staff) == ("ticket 981: refund dispute", "Welcome back!", superuser)

    html = account_page(user)
    assert activity_lines(html)[0].startswith(line)
    assert "ticket 981" not in html and "root.admin" not in html


def test_without_a_note_the_user_reads_a_neutral_line(client, superuser, user):
    client.force_login(superuser)
    client.post(
        ACTION_URL.format(user.pk, "grant"),
        {"amount": "5", "expires_on": "2099-01-01", "reason": "internal only", "apply": "1"},
    )
    html = account_page(user)
    assert activity_lines(html)[0].startswith("Bonus credits from the Pickaxe team · until 1 Jan")
    assert "internal only" not in html
