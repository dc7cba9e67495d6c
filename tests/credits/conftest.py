"""Shared by the ledger's tests: a clock held still at START, a person on it, and a way to
spend everything they have."""

import pytest
import time_machine
from django.utils import timezone

from credits import selectors, services

START = timezone.datetime(2026, 3, 1, 9, 0, tzinfo=timezone.UTC)


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def person(clock, make_user):
    return make_user()


def spend_all(user):
    while selectors.available(user):
        services.spend(user)
