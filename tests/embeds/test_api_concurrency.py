"""The API under concurrent calls, on PostgreSQL (row locks): a replay from many threads at
once charges once, and a key's limit holds when many calls arrive together."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest

from credits import selectors as credits
from embeds import services
from pickaxes.models import Run
from tests.embeds.conftest import call

pytestmark = pytest.mark.postgres


def all_at_once(count, send):
    """`send(n)` from `count` threads released together; their answers in order."""
    start = Barrier(count)

    def one(n):
        start.wait()
        return send(n)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def test_twenty_threads_replaying_one_idempotency_key_charge_once(api_server, api_key, pickaxe, fake_openai):
    fake_openai.chunk_delay = 0.05  # the first run is still running while the others arrive
    url = f"/api/v1/pickaxes/{pickaxe.slug}/runs"
    body = {"inputs": {"topic": "the sea"}, "user": "customer-1"}
    answers = all_at_once(
        20, lambda n: call(api_server, "POST", url, api_key.secret, json=body, headers={"Idempotency-Key": "order-7"})
    )
    assert [answer.status_code for answer in answers] == [200] * 20
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert Run.objects.count() == 1 and credits.balance(pickaxe.owner) == 24
    assert len(fake_openai.requests) == 1


def test_a_keys_rate_limit_holds_when_twenty_calls_arrive_at_once(api_server, pickaxe, fake_openai):
    key = services.create_api_key(owner=pickaxe.owner, name="five a minute", runs_per_minute=5)
    url = f"/api/v1/pickaxes/{pickaxe.slug}/runs"
    answers = all_at_once(
        20, lambda n: call(api_server, "POST", url, key.secret, json={"inputs": {"topic": "x"}, "user": f"u{n}"})
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 5 + [429] * 15
    assert Run.objects.count() == 5 and credits.balance(pickaxe.owner) == 20


def test_ten_messages_sent_at_once_to_one_conversation_each_take_their_own_place(api_server, api_key, fake_openai):
    from pickaxes.models import Conversation
    from tests.pickaxes.factories import ChatPickaxeFactory

    chat = ChatPickaxeFactory(owner=api_key.key.owner)
    url = f"/api/v1/pickaxes/{chat.slug}/runs"
    first = call(api_server, "POST", url, api_key.secret, json={"message": "Hi", "user": "customer-1"}).json()
    body = {"conversation": first["conversation"], "user": "customer-1"}
    answers = all_at_once(
        10, lambda n: call(api_server, "POST", url, api_key.secret, json={**body, "message": f"Message {n}"})
    )
    assert [answer.status_code for answer in answers] == [200] * 10
    positions = sorted(Run.objects.values_list("position", flat=True))
    assert positions == list(range(1, 12))
    assert Conversation.objects.get().last_position == 11
    assert credits.balance(chat.owner) == 14
