"""The credit rules (README), rule by rule, through the credits services and selectors."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from accounts.plans import FREE, GOLD, PACK_100
from credits import selectors, services
from credits.models import Entry
from tests.credits.conftest import START, spend_all

# settings.CREDIT_REPLENISH_DAYS: 30 unless the environment says otherwise.
REPLENISH = timedelta(days=django_settings.CREDIT_REPLENISH_DAYS)


def test_one_credit_per_spend(person):
    entry = services.spend(person, key="run-1").entry
    assert entry.amount == -1 and entry.kind == Entry.Kind.USE
    assert selectors.balance(person) == FREE.allowance - 1


def test_no_credit_no_output_refused_at_zero_with_time_of_next_return(person, clock):
    services.spend(person, key="first")
    clock.shift(timedelta(hours=1))
    for _ in range(FREE.allowance - 1):
        services.spend(person)
    with pytest.raises(services.OutOfCredits) as refused:
        services.spend(person, key="one-too-many")
    assert refused.value.next_return_at == START + REPLENISH
    assert not Entry.objects.filter(key="one-too-many").exists()
    assert selectors.balance(person) == 0


def test_refusal_of_a_known_empty_payer_repeats_without_writing(person, clock):
    spend_all(person)
    for _ in range(3):
        with pytest.raises(services.OutOfCredits) as refused:
            services.spend(person)
        assert refused.value.next_return_at == START + REPLENISH
    assert Entry.objects.filter(kind=Entry.Kind.USE).count() == FREE.allowance


def test_rolling_replenishment_used_credit_is_still_used_30_days_minus_1_second_later(person, clock):
    services.spend(person)
    clock.shift(REPLENISH - timedelta(seconds=1))
    assert selectors.balance(person) == FREE.allowance - 1


def test_rolling_replenishment_used_credit_returns_exactly_30_days_later(person, clock):
    services.spend(person)
    clock.shift(REPLENISH)
    assert selectors.balance(person) == FREE.allowance


def test_rolling_replenishment_credits_return_one_by_one_never_in_bulk(person, clock):
    for _ in range(3):
        services.spend(person)
        clock.shift(timedelta(days=1))
    clock.move_to(START + REPLENISH)
    assert selectors.balance(person) == 23
    clock.move_to(START + REPLENISH + timedelta(days=1))
    assert selectors.balance(person) == FREE.allowance - 1
    clock.move_to(START + REPLENISH + timedelta(days=2))
    assert selectors.balance(person) == FREE.allowance


def test_empty_payer_can_spend_again_when_a_credit_returns(person, clock):
    spend_all(person)
    with pytest.raises(services.OutOfCredits):
        services.spend(person)
    clock.shift(REPLENISH)
    assert services.spend(person).entry.amount == -1


def test_refund_returns_the_credit_at_once(person):
    use = services.spend(person, key="run-9").entry
    services.refund(use)
    assert selectors.balance(person) == FREE.allowance


def test_refund_pair_vanishes_together_when_the_use_expires(person, clock):
    use = services.spend(person).entry
    refund = services.refund(use)
    assert refund.expires_at == use.expires_at
    clock.shift(REPLENISH)
    assert selectors.balance(person) == FREE.allowance


def test_refund_of_the_same_use_twice_is_refused(person):
    use = services.spend(person).entry
    services.refund(use)
    with pytest.raises(services.AlreadyRefunded):
        services.refund(use)
    assert selectors.balance(person) == FREE.allowance


def test_refund_makes_a_refused_payer_able_to_spend_at_once(person):
    spend_all(person)
    last = Entry.objects.filter(kind=Entry.Kind.USE).first()
    with pytest.raises(services.OutOfCredits):
        services.spend(person)
    services.refund(last)
    assert services.spend(person).entry.amount == -1


def test_only_a_use_can_be_refunded(person):
    bonus = services.grant(person, 5, reason="welcome")
    with pytest.raises(ValueError):
        services.refund(bonus)


def test_idempotency_same_key_spends_once(person):
    first = services.spend(person, key="submission-abc")
    again = services.spend(person, key="submission-abc")
    assert again.entry.pk == first.entry.pk and again.replayed
    assert selectors.balance(person) == FREE.allowance - 1


def test_idempotency_same_key_returns_first_entry_even_when_now_empty(person):
    first = services.spend(person, key="last-one").entry
    spend_all(person)
    with pytest.raises(services.OutOfCredits):
        services.spend(person, key="new")
    assert services.spend(person, key="last-one").entry.pk == first.pk


def test_idempotency_keys_are_per_account(person, make_user):
    other = make_user()
    services.spend(person, key="same")
    services.spend(other, key="same")
    assert selectors.balance(person) == selectors.balance(other) == FREE.allowance - 1


def test_allowance_drop_below_what_is_in_use_shows_0_and_refuses(person):
    for _ in range(20):
        services.spend(person)
    services.set_allowance(person, 10, reason="downgrade")
    assert selectors.balance(person) == -10
    assert selectors.available(person) == 0
    with pytest.raises(services.OutOfCredits) as refused:
        services.spend(person)
    # Ten credits must come back before the balance is 1 again: all 20 uses share a time.
    assert refused.value.next_return_at == START + REPLENISH


def test_allowance_set_writes_only_the_difference(person):
    assert services.set_allowance(person, FREE.allowance, reason="Free plan") is None
    entry = services.set_allowance(person, GOLD.allowance, reason="Gold")
    assert entry.amount == GOLD.allowance - FREE.allowance
    assert selectors.allowance(person) == selectors.balance(person) == GOLD.allowance


def test_allowance_plan_change_keeps_permanent_staff_changes(person, make_user):
    staff = make_user(is_staff=True)
    services.adjust_allowance(person, 5, reason="beta tester", staff=staff)
    services.set_allowance(person, GOLD.allowance, reason="Gold")
    services.set_allowance(person, FREE.allowance, reason="Gold ended")
    assert selectors.allowance(person) == FREE.allowance + 5


def test_allowance_increase_lets_a_refused_payer_spend(person):
    spend_all(person)
    with pytest.raises(services.OutOfCredits):
        services.spend(person)
    services.set_allowance(person, FREE.allowance + PACK_100.allowance, reason="Extra 100")
    assert services.spend(person).entry.amount == -1


def test_balance_at_a_past_time_ignores_later_entries(person, clock):
    services.spend(person)
    before = timezone.now()
    clock.shift(timedelta(hours=2))
    services.spend(person)
    assert selectors.balance(person, at=before) == FREE.allowance - 1
    assert selectors.balance(person) == 23


def test_bonus_grants_count_until_their_expiry(person, clock):
    services.grant(person, 10, expires_at=START + timedelta(days=7), reason="launch week")
    assert selectors.balance(person) == 35
    clock.shift(timedelta(days=7))
    assert selectors.balance(person) == FREE.allowance


def test_bonus_grants_default_to_30_days_and_record_staff_and_reason(person, make_user, clock):
    staff = make_user(is_staff=True)
    entry = services.grant(person, 50, reason="sorry for the outage", staff=staff)
    assert entry.expires_at == START + REPLENISH
    assert (entry.staff, entry.note, entry.kind) == (staff, "sorry for the outage", "bonus")


def test_bonus_grants_need_a_reason_and_a_positive_amount(person):
    with pytest.raises(ValueError):
        services.grant(person, 5, reason="  ")
    with pytest.raises(ValueError):
        services.grant(person, 0, reason="nothing")
    with pytest.raises(ValueError):
        services.grant(person, 5, expires_at=START, reason="already over")
    assert selectors.balance(person) == FREE.allowance


def test_bonus_grants_deduction_counts_like_uses_for_30_days(person, clock):
    services.deduct(person, 10, reason="chargeback")
    assert selectors.balance(person) == FREE.allowance - 10
    assert selectors.returns_schedule(person) == [((START + REPLENISH).date(), 10)]
    clock.shift(REPLENISH)
    assert selectors.balance(person) == FREE.allowance


def test_returns_schedule_groups_upcoming_returns_by_day(person, clock):
    services.spend(person)
    services.spend(person)
    refunded = services.spend(person).entry
    services.refund(refunded)
    clock.shift(timedelta(days=2))
    services.spend(person)
    assert selectors.returns_schedule(person) == [
        ((START + REPLENISH).date(), 2),
        ((START + REPLENISH + timedelta(days=2)).date(), 1),
    ]
    clock.move_to(START + REPLENISH)
    assert selectors.returns_schedule(person) == [((START + REPLENISH + timedelta(days=2)).date(), 1)]


def test_idempotency_a_spend_key_cannot_reuse_the_key_of_another_kind_of_entry(person):
    with pytest.raises(ValueError):
        services.spend(person, key="free-allowance")
    assert selectors.balance(person) == FREE.allowance
