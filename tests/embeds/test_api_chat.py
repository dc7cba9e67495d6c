"""Chat pickaxes through the run API (over real HTTP, the ASGI app under uvicorn): each
message is one run the key's owner pays for; a conversation belongs to the key and its end
user; the same problems as form runs."""

import pytest

from credits import selectors as credits
from credits import services as credit_services
from embeds import services
from pickaxes.models import Conversation, Run
from tests.embeds.conftest import call
from tests.embeds.test_api_runs import assert_problem
from tests.pickaxes.conftest import sse_events
from tests.pickaxes.factories import ChatPickaxeFactory


@pytest.fixture
def chat(api_key):
    return ChatPickaxeFactory(owner=api_key.key.owner, slug="study-pal")


def send(server, secret, message="I am learning French verbs.", *, slug="study-pal", **body):
    body = {"message": message, "user": "customer-1", **body}
    headers = body.pop("headers", {})
    return call(server, "POST", f"/api/v1/pickaxes/{slug}/runs", secret, json=body, headers=headers)


def test_each_message_is_charged_once_to_the_keys_owner_and_the_answer_names_the_conversation(
    api_server, api_key, chat, fake_openai
):
    first = send(api_server, api_key.secret)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["status"] == "succeeded" and answer["output"].startswith("Hello from the fake model")
    assert answer["usage"]["credits_charged"] == 1 and answer["usage"]["balance"] == 24
    conversation = answer["conversation"]
    assert conversation == Conversation.objects.get().public_id and len(conversation) >= 20

    second = send(api_server, api_key.secret, "Quiz me.", conversation=conversation).json()
    assert second["conversation"] == conversation and second["usage"]["balance"] == 23
    runs = list(Run.objects.order_by("position"))
    assert [(run.position, run.source, run.payer_id) for run in runs] == [
        (1, "api", chat.owner_id),
        (2, "api", chat.owner_id),
    ]
    assert credits.balance(chat.owner) == 23
    sent = fake_openai.requests[-1]["json"]["messages"]
    assert [m["role"] for m in sent] == ["system", "assistant", "user", "assistant", "user"]
    assert sent[2]["content"] == "I am learning French verbs." and sent[-1]["content"] == "Quiz me."
    # The run reads back with its conversation.
    record = call(api_server, "GET", first.headers["location"], api_key.secret).json()
    assert record["conversation"] == conversation and record["user"] == "customer-1"


def test_a_refused_message_at_0_credits_sends_nothing_to_the_model(api_server, api_key, chat, fake_openai):
    credit_services.set_allowance(chat.owner, 0, reason="test")
    problem = assert_problem(send(api_server, api_key.secret), 402, "out-of-credits")
    assert problem["next_return_at"] is None or problem["next_return_at"]
    assert not fake_openai.requests and not Run.objects.exists() and not Conversation.objects.exists()


def test_a_failed_message_is_refunded_and_can_be_sent_again(api_server, api_key, chat, fake_openai):
    fake_openai.error_status = 500
    failed = send(api_server, api_key.secret, "Explain the subjunctive.").json()
    assert failed["status"] == "failed" and failed["refunded"] and failed["usage"]["credits_charged"] == 0
    assert credits.balance(chat.owner) == 25
    fake_openai.error_status = None
    again = send(api_server, api_key.secret, "Explain the subjunctive.", conversation=failed["conversation"]).json()
    assert again["status"] == "succeeded" and again["conversation"] == failed["conversation"]
    assert credits.balance(chat.owner) == 24
    history = call(
        api_server, "GET", f"/api/v1/conversations/{failed['conversation']}?user=customer-1", api_key.secret
    ).json()
    assert [(m["position"], m["role"], m["status"]) for m in history["messages"]] == [
        (1, "user", "failed"),
        (2, "user", "succeeded"),
        (2, "assistant", "succeeded"),
    ]
    assert history["messages_sent"] == 2


def test_a_replayed_message_with_the_same_idempotency_key_is_answered_with_its_first_run(
    api_server, api_key, chat, fake_openai
):
    first = send(api_server, api_key.secret, headers={"Idempotency-Key": "msg-1"}).json()
    again = send(api_server, api_key.secret, headers={"Idempotency-Key": "msg-1"}).json()
    assert again["id"] == first["id"] and again["conversation"] == first["conversation"]
    assert Run.objects.count() == 1 and Conversation.objects.count() == 1
    assert credits.balance(chat.owner) == 24 and len(fake_openai.requests) == 1
    # The same key with another message is a conflict, and charges nothing.
    conflict = send(api_server, api_key.secret, "Something else.", headers={"Idempotency-Key": "msg-1"})
    assert_problem(conflict, 409, "idempotency-conflict")
    # A replay of a message continuing the conversation, too.
    body = {"conversation": first["conversation"], "headers": {"Idempotency-Key": "msg-2"}}
    second = send(api_server, api_key.secret, "Quiz me.", **body).json()
    replayed = send(api_server, api_key.secret, "Quiz me.", **body).json()
    assert replayed["id"] == second["id"] and Run.objects.count() == 2 and credits.balance(chat.owner) == 23


def test_another_keys_or_end_users_conversation_is_a_404(api_server, api_key, chat, fake_openai):
    conversation = send(api_server, api_key.secret, "My secret plan.").json()["conversation"]
    other_key = services.create_api_key(owner=chat.owner, name="other")
    for secret, user in ((api_key.secret, "customer-2"), (other_key.secret, "customer-1")):
        assert_problem(send(api_server, secret, "Show me.", conversation=conversation, user=user), 404, "not-found")
        read = call(api_server, "GET", f"/api/v1/conversations/{conversation}?user={user}", secret)
        assert_problem(read, 404, "not-found")
        assert "My secret plan." not in read.text
    assert_problem(send(api_server, api_key.secret, conversation="no-such-conversation"), 404, "not-found")
    assert Run.objects.count() == 1 and credits.balance(chat.owner) == 24


def test_a_conversation_of_another_pickaxe_is_a_404(api_server, api_key, chat, fake_openai):
    other = ChatPickaxeFactory(owner=chat.owner, slug="other-chat")
    conversation = send(api_server, api_key.secret, slug=other.slug).json()["conversation"]
    assert_problem(send(api_server, api_key.secret, conversation=conversation), 404, "not-found")


@pytest.mark.parametrize(
    "body, fields",
    [
        ({"inputs": {"topic": "the sea"}, "user": "u"}, ["inputs", "message"]),
        ({"user": "u"}, ["message"]),
        ({"message": "   ", "user": "u"}, ["message"]),
        ({"message": "x" * 8001, "user": "u"}, ["message"]),
        ({"message": "a\x00b", "user": "u"}, ["message"]),
        ({"message": 7, "user": "u"}, ["message"]),
        ({"message": "hi", "conversation": "bad id!", "user": "u"}, ["conversation"]),
    ],
)
def test_a_form_body_or_a_bad_message_for_a_chat_pickaxe_is_422_and_charges_nothing(
    api_server, api_key, chat, fake_openai, body, fields
):
    response = call(api_server, "POST", f"/api/v1/pickaxes/{chat.slug}/runs", api_key.secret, json=body)
    problem = assert_problem(response, 422, "invalid-request")
    assert [error["field"] for error in problem["errors"]] == fields
    assert not Run.objects.exists() and not fake_openai.requests


@pytest.mark.parametrize("extra", [{"message": "hello"}, {"conversation": "abc"}])
def test_a_chat_body_for_a_form_pickaxe_is_422_and_charges_nothing(api_server, api_key, pickaxe, fake_openai, extra):
    body = {"inputs": {"topic": "the sea"}, "user": "u", **extra}
    response = call(api_server, "POST", f"/api/v1/pickaxes/{pickaxe.slug}/runs", api_key.secret, json=body)
    problem = assert_problem(response, 422, "invalid-request")
    assert [error["field"] for error in problem["errors"]] == list(extra)
    assert not Run.objects.exists()


def test_a_streamed_message_ends_with_the_same_answer_as_a_plain_call(api_server, api_key, chat, fake_openai):
    response = send(api_server, api_key.secret, stream=True)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert "".join(data["text"] for name, data in events[:-1]) == fake_openai.reply
    name, end = events[-1]
    record = call(api_server, "GET", response.headers["location"], api_key.secret).json()
    assert name == "end" and end == record and end["conversation"] == Conversation.objects.get().public_id


def test_the_end_user_limit_counts_messages(api_server, chat, fake_openai):
    key = services.create_api_key(owner=chat.owner, name="limited", runs_per_end_user=2)
    conversation = send(api_server, key.secret, "One.").json()["conversation"]
    assert send(api_server, key.secret, "Two.", conversation=conversation).status_code == 200
    assert_problem(send(api_server, key.secret, "Three.", conversation=conversation), 429, "end-user-limit")
    assert send(api_server, key.secret, "One.", user="customer-2").status_code == 200
    assert Run.objects.count() == 3


def test_a_conversation_lists_its_messages_oldest_first_in_pages(api_server, api_key, chat, fake_openai):
    conversation = send(api_server, api_key.secret, "Message 1").json()["conversation"]
    for number in range(2, 6):
        send(api_server, api_key.secret, f"Message {number}", conversation=conversation)
    path = f"/api/v1/conversations/{conversation}?user=customer-1&limit=2"
    page = call(api_server, "GET", path, api_key.secret).json()
    assert page["id"] == conversation and page["pickaxe"] == chat.slug and page["user"] == "customer-1"
    assert page["title"] == "Message 1" and page["opening_message"] == chat.opening_message
    assert page["messages_sent"] == 5
    assert [(m["role"], m["text"]) for m in page["messages"]] == [
        ("user", "Message 1"),
        ("assistant", fake_openai.reply),
        ("user", "Message 2"),
        ("assistant", fake_openai.reply),
    ]
    pages = [page]
    while pages[-1]["next"]:
        pages.append(call(api_server, "GET", pages[-1]["next"], api_key.secret).json())
    assert len(pages) == 3 and pages[-1]["next"] is None
    sent = [m["text"] for p in pages for m in p["messages"] if m["role"] == "user"]
    assert sent == [f"Message {n}" for n in range(1, 6)]


def test_the_pickaxes_list_says_which_are_chats(api_server, api_key, pickaxe, chat):
    listed = {p["slug"]: p for p in call(api_server, "GET", "/api/v1/pickaxes", api_key.secret).json()}
    assert listed[chat.slug]["kind"] == "chat" and listed[chat.slug]["fields"] == []
    assert listed[chat.slug]["opening_message"] == chat.opening_message
    assert listed[chat.slug]["starters"] == chat.starter_list()
    assert listed[pickaxe.slug]["kind"] == "form" and listed[pickaxe.slug]["starters"] == []


def test_the_usage_page_counts_api_messages_and_conversations(api_server, api_key, chat, fake_openai):
    from django.test import Client

    conversation = send(api_server, api_key.secret).json()["conversation"]
    send(api_server, api_key.secret, "Quiz me.", conversation=conversation)
    send(api_server, api_key.secret, user="customer-2")
    owner = Client()
    owner.force_login(chat.owner)
    html = owner.get(f"/studio/{chat.slug}/usage/").content.decode()
    assert 'data-testid="api-runs">3</strong> messages in <strong data-testid="api-conversations">2<' in html
