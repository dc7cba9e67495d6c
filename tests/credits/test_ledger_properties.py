"""Property test: random histories against an independent model of the credit rules (README).

The model is a plain list of (amount, created, expires) written from the rules, not
from the code: balance(t) = the sum of entries created by t that have not expired at t.
After every step the account row's running balance is checked against the model too.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User
from accounts.plans import FREE
from credits import selectors, services
from credits.models import CreditAccount
from tests.factories import UserFactory

START = datetime(2026, 1, 1, tzinfo=UTC)
REPLENISH = timedelta(days=django_settings.CREDIT_REPLENISH_DAYS)

spends = st.tuples(st.just("spend"), st.one_of(st.none(), st.integers(0, 4)))
bursts = st.tuples(st.just("burst"), st.integers(1, 30))  # many unkeyed spends in a row
refunds = st.tuples(st.just("refund"), st.integers(0, 50))
grants = st.tuples(st.just("grant"), st.integers(1, 15), st.integers(1, 40))
deductions = st.tuples(st.just("deduct"), st.integers(1, 10))
# Small allowances and many spends bring histories to 0 and below, where the rules bite.
allowances = st.tuples(st.just("allowance"), st.one_of(st.integers(0, 6), st.integers(0, 40)))
jumps = st.tuples(
    st.just("jump"),
    st.one_of(
        st.sampled_from([1, 3600, 86400, int(REPLENISH.total_seconds()) - 1, int(REPLENISH.total_seconds())]),
        st.integers(0, 35 * 86400),
    ),
)
operations = st.lists(
    st.one_of(allowances, bursts, spends, spends, refunds, grants, deductions, jumps),
    min_size=3,
    max_size=60,
)


@dataclass
class Model:
    now: datetime
    plan: int = FREE.allowance
    entries: list = field(default_factory=list)  # [amount, created, expires]
    uses: list = field(default_factory=list)  # [expires, refunded]
    keys: dict = field(default_factory=dict)

    def __post_init__(self):
        self.entries.append((self.plan, self.now, None))

    def balance(self, at=None):
        at = at or self.now
        return sum(a for a, created, expires in self.entries if created <= at and (expires is None or expires > at))

    def counted(self, counted_until):
        """The entries a running balance caught up to `counted_until` holds: those that
        never expire and those expiring at or after it."""
        return [(a, e) for a, _, e in self.entries if e is None or (counted_until is not None and e >= counted_until)]

    def next_return(self):
        for moment in sorted({e for _, _, e in self.entries if e and e > self.now}):
            if self.balance(moment) >= 1:
                return moment
        return None


@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=operations)
def test_balance_always_equals_the_model_of_the_rules_and_no_spend_passes_at_0(history):
    with time_machine.travel(START, tick=False) as clock:
        user = UserFactory()
        model = Model(now=START)
        real_uses = []
        steps = []
        for op in history:
            steps.extend([("spend", None)] * op[1] if op[0] == "burst" else [op])
        for op in steps:
            kind = op[0]
            if kind == "spend":
                key = None if op[1] is None else f"k{op[1]}"
                if key in model.keys:
                    again = services.spend(user, key=key)
                    assert again.entry.pk == model.keys[key] and again.replayed is True
                    assert again.balance_after == model.balance()
                elif model.balance() >= 1:
                    spent = services.spend(user, key=key)
                    entry = spent.entry
                    assert spent.replayed is False
                    model.entries.append((-1, model.now, model.now + REPLENISH))
                    model.uses.append([model.now + REPLENISH, False])
                    assert spent.balance_after == model.balance()
                    real_uses.append(entry)
                    if key:
                        model.keys[key] = entry.pk
                else:
                    with pytest.raises(services.OutOfCredits) as refused:
                        services.spend(user, key=key)
                    assert refused.value.next_return_at == model.next_return()
            elif kind == "refund" and model.uses:
                index = op[1] % len(model.uses)
                if model.uses[index][1]:
                    with pytest.raises(services.AlreadyRefunded):
                        services.refund(real_uses[index])
                else:
                    services.refund(real_uses[index])
                    model.uses[index][1] = True
                    model.entries.append((1, model.now, model.uses[index][0]))
            elif kind == "grant":
                services.grant(user, op[1], expires_at=model.now + timedelta(days=op[2]), reason="property")
                model.entries.append((op[1], model.now, model.now + timedelta(days=op[2])))
            elif kind == "deduct":
                services.deduct(user, op[1], reason="property")
                model.entries.append((-op[1], model.now, model.now + REPLENISH))
            elif kind == "allowance":
                services.set_allowance(user, op[1], reason="property")
                if op[1] != model.plan:
                    model.entries.append((op[1] - model.plan, model.now, None))
                    model.plan = op[1]
            elif kind == "jump":
                clock.shift(timedelta(seconds=op[1]))
                model.now += timedelta(seconds=op[1])

            assert_every_reader_agrees_with_the_model(user, model)
            assert_running_balance_matches(CreditAccount.objects.get(user=user), model)
        assert selectors.balance_history(user, days=40) == [
            (moment, model.balance(moment)) for moment, _ in selectors.balance_history(user, days=40)
        ]


def assert_every_reader_agrees_with_the_model(user, model):
    """The balance and the allowance as the selectors, the admin's user list and the
    run page read them: one expression each, so one answer."""
    assert selectors.balance(user) == model.balance()
    assert selectors.balance(user, at=model.now) == model.balance()
    assert selectors.available(user) == max(0, model.balance())
    assert selectors.spending_status(user).balance == model.balance()
    assert selectors.allowance(user) == model.plan
    listed = selectors.annotate_credits(User.objects.filter(pk=user.pk)).get()
    assert (listed.credit_balance, listed.credit_allowance) == (model.balance(), model.plan)


def assert_running_balance_matches(account, model):
    """The row holds the sum of the entries it counted, counted_until is the earliest
    expiry among them, every entry it left out has expired, and while counted_until is
    ahead (the row is caught up) the row's balance is the balance."""
    counted = model.counted(account.counted_until)
    assert account.balance == sum(amount for amount, _ in counted)
    assert account.counted_until == min((e for _, e in counted if e is not None), default=None)
    left_out = [
        e for _, _, e in model.entries if e is not None and (account.counted_until is None or e < account.counted_until)
    ]
    assert all(e <= model.now for e in left_out)
    if account.counted_until is None or account.counted_until > model.now:
        assert account.balance == model.balance()
