"""The staff limits: a ceiling a time and a total a day for staff who are not superusers,
checked again, under a lock, as the action writes (services.act_as_staff)."""

import pytest

from credits import selectors, services
from credits.models import Entry


@pytest.fixture
def limits(settings):
    settings.STAFF_CREDIT_CEILING, settings.STAFF_CREDIT_DAILY_TOTAL = 100, 150


def grant_30(staff):
    return lambda user: services.grant(user, 30, reason="goodwill", staff=staff)


def test_daily_total_is_counted_again_when_the_action_writes_and_nothing_is_written_past_it(limits, make_user):
    staff, first, second = make_user(is_staff=True), make_user(), make_user()
    services.check_staff_limits(staff, 30, users=2)  # what the form saw: 60 of 150
    services.act_as_staff(
        staff, [first], credits_each=100, write=lambda user: services.grant(user, 100, reason="x", staff=staff)
    )
    with pytest.raises(services.StaffLimitExceeded, match=r"Above your total of 150 credits a day \(100 in"):
        services.act_as_staff(staff, [first, second], credits_each=30, write=grant_30(staff))
    assert Entry.objects.filter(kind="bonus").count() == 1
    assert selectors.credits_moved_by(staff, since=staff.date_joined) == 100


def test_daily_total_an_action_within_it_writes_for_every_user(limits, make_user):
    staff, users = make_user(is_staff=True), [make_user(), make_user()]
    written = services.act_as_staff(staff, users, credits_each=30, write=grant_30(staff))
    assert [entry.account.user for entry in written] == users
    assert selectors.credits_moved_by(staff, since=staff.date_joined) == 60


def test_ceiling_a_time_binds_staff_but_not_superusers(limits, make_user):
    staff, superuser, user = make_user(is_staff=True), make_user(is_staff=True, is_superuser=True), make_user()
    with pytest.raises(services.StaffLimitExceeded, match="Above your ceiling of 100"):
        services.check_staff_limits(staff, 101)
    write = lambda user: services.grant(user, 500, reason="partner", staff=superuser)  # noqa: E731
    services.act_as_staff(superuser, [user], credits_each=500, write=write)
    assert selectors.credits_moved_by(superuser, since=superuser.date_joined) == 500
