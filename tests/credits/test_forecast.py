"""The days ahead, against hand-computed cases: what comes back and what ends each day, the
balance after each, when the balance reaches 0 at the last 7 days' pace, and when enough
credits are back. The clock is held still (time-machine); TIME_ZONE is UTC."""

from datetime import datetime, time, timedelta

import time_machine
from django.utils import timezone

from credits import selectors, services
from tests.credits.conftest import START

DAY = timedelta(days=1)


def at(moment):
    return time_machine.travel(moment, tick=False)


def days(user):
    return [(day.day.isoformat(), day.returned, day.expired, day.balance) for day in selectors.forecast(user).days()]


def test_a_bonus_that_ends_the_day_credits_come_back_is_taken_off_that_day(make_user):
    # The bug of issue 13: "75 credits on 25 Dec" when a 50-credit grant ended that day.
    with at(datetime(2026, 11, 25, 10, tzinfo=timezone.UTC)):
        user = make_user()
        for _ in range(9):
            services.spend(user)
        end_of_25_dec = timezone.make_aware(datetime.combine(datetime(2026, 12, 25), time.max))
        services.grant(user, 50, expires_at=end_of_25_dec, reason="outage")
        assert selectors.balance(user) == 66
        assert days(user) == [("2026-12-25", 9, 50, 25)]
        breakdown = selectors.balance_breakdown(user)
        assert breakdown.parts(user.plan) == ["25 from Free", "50 bonus until 25 Dec", "9 in use"]


def test_a_grant_that_expires_between_two_returns(clock, person):
    for _ in range(3):
        services.spend(person)  # back on day 30
    clock.shift(10 * DAY)
    for _ in range(2):
        services.spend(person)  # back on day 40
    services.grant(person, 20, expires_at=START + 35 * DAY, reason="goodwill")  # ends on day 35
    clock.shift(2 * DAY)  # day 12: 25 - 5 + 20
    assert selectors.balance(person) == 40
    assert days(person) == [("2026-03-31", 3, 0, 43), ("2026-04-05", 0, 20, 23), ("2026-04-10", 2, 0, 25)]


def test_a_deduction_comes_back_like_uses_and_a_refunded_use_comes_back_as_nothing(clock, person):
    services.deduct(person, 10, reason="chargeback")
    clock.shift(DAY)
    refunded = services.spend(person).entry
    services.refund(refunded)
    services.spend(person)
    assert selectors.balance(person) == 14
    assert days(person) == [("2026-03-31", 10, 0, 24), ("2026-04-01", 1, 0, 25)]
    breakdown = selectors.balance_breakdown(person)
    assert breakdown.parts(person.plan) == ["25 from Free", "1 in use", "10 deducted"]


def spend_one_a_day_for_a_week(clock, user):
    """One run a day at 09:00 from 6 days ago until today: a pace of 1 a day."""
    clock.move_to(START - 6 * DAY)
    uses = []
    for _ in range(7):
        uses.append(services.spend(user).entry)
        clock.shift(DAY)
    clock.move_to(START)
    return uses


def test_at_one_credit_a_day_18_credits_run_out_in_18_days(clock, person):
    spend_one_a_day_for_a_week(clock, person)
    ahead = selectors.forecast(person)
    assert (ahead.balance, ahead.pace_per_day) == (18, 1)
    assert ahead.run_out_at() == START + 18 * DAY  # the first return is on day 24, too late


def test_a_bonus_that_ends_on_the_way_brings_the_run_out_date_forward_by_its_size(clock, person):
    spend_one_a_day_for_a_week(clock, person)
    services.grant(person, 10, expires_at=START + 5 * DAY, reason="event")
    ahead = selectors.forecast(person)
    # 28 on day 0, 23 on day 5, less the 10 that end: 13, gone 13 days later.
    assert ahead.balance == 28
    assert ahead.run_out_at() == START + 18 * DAY


def test_a_refunded_run_does_not_count_in_the_pace(clock, person):
    uses = spend_one_a_day_for_a_week(clock, person)
    services.refund(uses[-1])  # today's run failed before any output
    ahead = selectors.forecast(person)
    # 19 credits at 6 in 7 days: 19 × 7 / 6 = 22 days and 4 hours, before the first return (day 24).
    assert (ahead.balance, ahead.pace_per_day) == (19, 6 / 7)
    assert ahead.run_out_at() == START + timedelta(days=22, hours=4)


def test_returns_ahead_set_when_enough_credits_are_back_at_the_threshold(clock, person):
    clock.move_to(START - 20 * DAY)
    for _ in range(15):
        services.spend(person)  # back on day 10
    spend_one_a_day_for_a_week(clock, person)
    settings = selectors.alert_settings(person)
    ahead = selectors.forecast(person, threshold=settings.threshold)
    assert (ahead.balance, ahead.pace_per_day, settings.threshold) == (3, 1, 5)  # 20 % of 25
    assert ahead.run_out_at() == START + 3 * DAY
    assert ahead.back_at_threshold_at() == START + 10 * DAY  # the 15 used 20 days ago come back: 18


def test_at_0_credits_the_next_credit_is_the_first_use_that_comes_back(clock, person):
    clock.shift(-3 * DAY)
    services.spend(person)  # back on day 27
    clock.move_to(START)
    for _ in range(24):
        services.spend(person)
    status = selectors.spending_status(person)
    assert (status.available, status.empty) == (0, True)
    assert status.next_credit_at == START + 27 * DAY


def test_without_runs_there_is_no_run_out_date(clock, person):
    ahead = selectors.forecast(person)
    assert (ahead.pace_per_day, ahead.run_out_at(), ahead.days()) == (0, None, [])


def test_back_at_the_threshold_counts_every_credit_back_that_day(clock, person):
    # "back at 5 on 31 Mar" read as if only 5 came back, when all 25 did.
    for _ in range(25):
        services.spend(person)  # all back on day 30
    ahead = selectors.forecast(person, threshold=5)
    back = ahead.back_at_threshold()
    assert (back.at, back.balance) == (START + 30 * DAY, 25)
    assert back.at == ahead.back_at_threshold_at()
    assert selectors.forecast(person, threshold=None).back_at_threshold() is None
