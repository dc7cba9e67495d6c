"""Messages of one conversation arriving at once, on PostgreSQL (real threads, real row
locks): each is charged once and takes its own place in the conversation."""

import pytest

from credits import selectors as credit_selectors
from pickaxes.models import Run
from tests.credits.test_concurrency import run_in_threads
from tests.pickaxes.factories import ChatPickaxeFactory, send_message

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_messages_sent_at_once_each_take_their_own_place_and_one_credit(make_user):
    user = make_user()
    pickaxe = ChatPickaxeFactory()
    first = send_message(pickaxe, user, "first", "k" * 20)
    conversation = first.run.conversation
    outcomes, errors = run_in_threads(
        10, lambda n: send_message(pickaxe, user, f"m{n}", f"key{n:017d}", conversation=conversation).run.position
    )
    assert not errors
    assert sorted(outcomes) == list(range(2, 12))
    assert Run.objects.filter(conversation=conversation).count() == 11
    assert credit_selectors.balance(user) == 25 - 11
