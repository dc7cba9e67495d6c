"""The credit rules for chats on the site: one message sent = one run = one credit, paid by
the sender (the owner, for Test), with a fake model server behind the real SDK."""

import re

import pytest

from credits import selectors as credits
from credits import services as credit_services
from pickaxes.models import Conversation, Run
from tests.clients import post_without_javascript
from tests.pickaxes.conftest import post_run_streamed
from tests.pickaxes.factories import ChatPickaxeFactory


@pytest.fixture
def signed_in(client, make_user):
    user = make_user()
    client.force_login(user)
    return user


@pytest.fixture
def chat_pickaxe(db):
    return ChatPickaxeFactory()


def page_key(html):
    return re.search(r'name="submission_key" value="([^"]+)"', html.split("data-chat-form")[1]).group(1)


def conversation_of(html):
    return re.search(r'name="conversation" value="([^"]*)"', html.split("data-chat-form")[1]).group(1)


def send(client, pickaxe, message, *, conversation="", key=None, path=None, **extra):
    """Post a message as the page's form does without JavaScript; returns the page's HTML."""
    if key is None:
        key = page_key(client.get(path or f"/p/{pickaxe.slug}/").content.decode())
    data = {"message": message, "conversation": conversation, "submission_key": key, **extra}
    response = post_without_javascript(client, f"/p/{pickaxe.slug}/run/", data)
    return response, response.content.decode()


def test_each_message_charged_once_and_the_conversation_comes_back_whole(client, signed_in, chat_pickaxe, fake_openai):
    _, html = send(client, chat_pickaxe, "Quiz me on French verbs")
    conversation = conversation_of(html)
    assert conversation == Conversation.objects.get().public_id
    for message in ("être", "avoir"):
        _, html = send(client, chat_pickaxe, message, conversation=conversation, key=page_key(html))
    assert credits.balance(signed_in) == 22
    assert html.count('data-testid="run-output"') == 3
    for message in ("Quiz me on French verbs", "être", "avoir", "Hi! What are you learning today?"):
        assert message in html
    runs = Run.objects.order_by("position")
    assert [run.position for run in runs] == [1, 2, 3]
    assert all(run.entry.amount == -1 and run.payer == signed_in and run.source == "site" for run in runs)


def test_each_message_the_model_is_sent_the_conversation_so_far(client, signed_in, chat_pickaxe, fake_openai):
    fake_openai.reply = "Answer one."
    _, html = send(client, chat_pickaxe, "first question")
    send(client, chat_pickaxe, "second question", conversation=conversation_of(html), key=page_key(html))
    assert fake_openai.requests[-1]["json"]["messages"] == [
        {"role": "system", "content": "You are a patient tutor."},
        {"role": "assistant", "content": "Hi! What are you learning today?"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "Answer one."},
        {"role": "user", "content": "second question"},
    ]


def test_a_refused_message_at_0_credits_sends_nothing_to_the_model(client, signed_in, chat_pickaxe, fake_openai):
    credit_services.set_allowance(signed_in, 0, reason="test")
    page = client.get(f"/p/{chat_pickaxe.slug}/").content.decode()
    assert re.search(r'data-testid="send"[^>]* disabled', page)
    assert "your next credit comes back on" in page or "You have no credits left" in page
    _, html = send(client, chat_pickaxe, "hello")
    assert "You are out of credits" in html
    assert fake_openai.requests == [] and not Run.objects.exists() and not Conversation.objects.exists()


def test_a_failed_message_refunded_stays_marked_and_retryable(client, signed_in, chat_pickaxe, fake_openai):
    fake_openai.error_status = 500
    _, html = send(client, chat_pickaxe, "lost in the post")
    assert "Not answered — not charged." in html and 'data-testid="retry"' in html
    assert credits.balance(signed_in) == 25
    failed = Run.objects.get()
    assert (failed.status, failed.refunded) == ("failed", True)
    retry_key = re.search(r'name="submission_key" value="([^"]+-r1)"', html).group(1)
    fake_openai.error_status = None
    _, html = send(client, chat_pickaxe, "lost in the post", conversation=conversation_of(html), key=retry_key)
    assert credits.balance(signed_in) == 24
    assert "Not answered — not charged." in html and html.count('data-testid="run-output"') == 1
    retried = Run.objects.get(position=2)
    assert retried.status == "succeeded" and retried.conversation_id == failed.conversation_id
    # The failed message is not sent again as part of the conversation.
    assert [m["role"] for m in fake_openai.requests[-1]["json"]["messages"]] == ["system", "assistant", "user"]


def test_a_replayed_message_same_submission_key_is_answered_with_its_first_run(
    client, signed_in, chat_pickaxe, fake_openai
):
    key = page_key(client.get(f"/p/{chat_pickaxe.slug}/").content.decode())
    send(client, chat_pickaxe, "once", key=key)
    _, html = send(client, chat_pickaxe, "once", key=key)
    assert Run.objects.count() == 1 and len(fake_openai.requests) == 1
    assert credits.balance(signed_in) == 24
    assert Conversation.objects.count() == 1 and html.count('data-testid="run-output"') == 1


def test_the_prompt_bounded_a_message_longer_than_the_input_limit_is_refused_uncharged(
    client, signed_in, chat_pickaxe, fake_openai, settings
):
    settings.RUN_INPUT_MAX_CHARS = 50
    response, html = send(client, chat_pickaxe, "x" * 51)
    assert response.status_code == 400 and "at most 50" in html
    assert fake_openai.requests == [] and credits.balance(signed_in) == 25


def test_the_prompt_bounded_the_page_says_when_the_earliest_messages_are_forgotten(
    client, signed_in, chat_pickaxe, fake_openai, settings
):
    settings.RUN_PROMPT_MAX_CHARS = 250
    fake_openai.reply = "y" * 60
    _, html = send(client, chat_pickaxe, "first " + "x" * 40)
    assert 'data-testid="chat-forgotten"' not in html
    for number in range(3):
        _, html = send(client, chat_pickaxe, f"more {number}", conversation=conversation_of(html), key=page_key(html))
    assert 'data-testid="chat-forgotten"' in html
    sent = fake_openai.requests[-1]["json"]["messages"]
    assert sum(len(message["content"]) for message in sent) <= 250
    assert not any("first" in message["content"] for message in sent)


def test_another_persons_conversation_is_a_404_on_the_site(client, signed_in, chat_pickaxe, fake_openai, make_user):
    _, html = send(client, chat_pickaxe, "my secret")
    conversation = conversation_of(html)
    assert client.get(f"/p/{chat_pickaxe.slug}/?c={conversation}").status_code == 200
    client.force_login(make_user())
    assert client.get(f"/p/{chat_pickaxe.slug}/?c={conversation}").status_code == 404
    key = page_key(client.get(f"/p/{chat_pickaxe.slug}/").content.decode())
    data = {"message": "let me in", "conversation": conversation, "submission_key": key}
    assert client.post(f"/p/{chat_pickaxe.slug}/run/", data).status_code == 404
    assert Run.objects.count() == 1
    client.logout()
    assert client.get(f"/p/{chat_pickaxe.slug}/?c={conversation}").status_code == 404
    assert client.get(f"/p/{chat_pickaxe.slug}/?c=nonsense").status_code == 404


def test_test_in_the_studio_is_a_chat_the_owner_pays_for_message_by_message(client, chat_pickaxe, fake_openai):
    owner = chat_pickaxe.owner
    client.force_login(owner)
    studio = f"/studio/{chat_pickaxe.slug}/"
    _, html = send(client, chat_pickaxe, "testing one", path=studio, mode="test")
    assert 'data-testid="test-chat"' in html
    _, html = send(
        client, chat_pickaxe, "testing two", conversation=conversation_of(html), key=page_key(html), mode="test"
    )
    assert credits.balance(owner) == 23
    assert set(Run.objects.values_list("source", flat=True)) == {"test"}
    conversation = Conversation.objects.get()
    assert conversation.source == "test"
    assert client.get(f"{studio}?c={conversation.public_id}").status_code == 200
    # A Test conversation is not the site's (and the reverse).
    assert client.get(f"/p/{chat_pickaxe.slug}/?c={conversation.public_id}").status_code == 404


def test_only_the_owner_can_test_a_chat(client, signed_in, chat_pickaxe, fake_openai):
    key = page_key(client.get(f"/p/{chat_pickaxe.slug}/").content.decode())
    response, _ = send(client, chat_pickaxe, "hi", key=key, mode="test")
    assert response.status_code == 403 and not Run.objects.exists()


def test_a_streamed_message_ends_with_its_conversation_and_the_balance(signed_in, chat_pickaxe, fake_openai):
    response, events = post_run_streamed(
        signed_in, chat_pickaxe, {"message": "hello", "conversation": "", "submission_key": "k" * 20}
    )
    name, end = events[-1]
    assert name == "end" and end["ok"] and end["balance"] == 24
    assert end["conversation"] == Conversation.objects.get().public_id


def test_without_javascript_a_reload_after_a_message_comes_back_to_the_conversation(
    client, signed_in, chat_pickaxe, fake_openai
):
    _, html = send(client, chat_pickaxe, "hello")
    conversation = conversation_of(html)
    assert f'action="/p/{chat_pickaxe.slug}/run/?c={conversation}"' in html
    response = client.get(f"/p/{chat_pickaxe.slug}/run/?c={conversation}")
    assert response.status_code == 302 and response["Location"] == f"/p/{chat_pickaxe.slug}/?c={conversation}"


def test_a_visitor_logs_in_to_send_and_finds_the_message_typed(client, chat_pickaxe, fake_openai, make_user):
    data = {"message": "What is a verb?", "conversation": "", "submission_key": "k" * 20}
    response = client.post(f"/p/{chat_pickaxe.slug}/run/", data)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(make_user())
    html = client.get(f"/p/{chat_pickaxe.slug}/").content.decode()
    assert "What is a verb?</textarea>" in html
    assert fake_openai.requests == [] and not Run.objects.exists()


def test_another_persons_conversation_is_a_404_in_test_too(client, chat_pickaxe, fake_openai, make_user):
    stranger = make_user()
    client.force_login(stranger)
    _, html = send(client, chat_pickaxe, "mine")
    client.force_login(chat_pickaxe.owner)
    assert client.get(f"/studio/{chat_pickaxe.slug}/?c={conversation_of(html)}").status_code == 404
