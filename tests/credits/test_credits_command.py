import pytest
from django.core.management import CommandError, call_command

from accounts.plans import FREE
from credits import selectors
from credits.models import Entry


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command("credits", *args, stdout=out)
    return out.getvalue()


def test_show_prints_balance_allowance_and_recent_ledger(user):
    out = run("show", user.email)
    assert f"balance:   {FREE.allowance}" in out and f"allowance: {FREE.allowance}" in out and "Free plan" in out


def test_grant_needs_a_reason(user):
    with pytest.raises(CommandError):
        run("grant", user.email, "5", "--reason", "   ")
    assert selectors.balance(user) == FREE.allowance


def test_grant_adds_bonus_credits_until_the_given_day(user, make_user):
    staff = make_user(is_staff=True)
    out = run("grant", user.email, "10", "--reason", "beta feedback", "--expires", "2099-01-31", "--staff", staff.email)
    assert "Granted 10" in out
    entry = Entry.objects.get(kind="bonus")
    assert (entry.note, entry.staff, entry.expires_at.date().isoformat()) == ("beta feedback", staff, "2099-01-31")
    assert selectors.balance(user) == 35


def test_deduct_takes_credits_for_30_days(user):
    run("deduct", user.email, "7", "--reason", "chargeback")
    assert selectors.balance(user) == 18


def test_unknown_user_and_non_staff_are_refused(user, make_user):
    with pytest.raises(CommandError, match="No user"):
        run("show", "nobody@example.com")
    with pytest.raises(CommandError, match="not a staff member"):
        run("grant", user.email, "1", "--reason", "x", "--staff", make_user().email)
    with pytest.raises(CommandError):
        run("grant", user.email, "0", "--reason", "zero")


def test_grant_and_deduct_keep_the_note_for_the_user_apart_from_the_reason(user):
    run("grant", user.email, "10", "--reason", "ticket 12", "--user-note", "Thanks for the bug report")
    run("deduct", user.email, "2", "--reason", "ticket 13")
    notes = dict(Entry.objects.filter(kind__in=["bonus", "deduction"]).values_list("kind", "user_note"))
    assert notes == {"bonus": "Thanks for the bug report", "deduction": ""}
