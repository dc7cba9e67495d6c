"""A chat pickaxe in its embed: every message is one run the owner pays for, within the
embed's limits; the visitor's conversation is theirs alone and survives a reload."""

import re

import pytest
from django.test import Client

from credits import selectors as credits
from credits import services as credit_services
from embeds.services import embed_for
from pickaxes.models import Conversation, Run
from tests.clients import post_without_javascript
from tests.embeds.conftest import embed_form
from tests.pickaxes.conftest import sse_events
from tests.pickaxes.factories import ChatPickaxeFactory

FIELDS = re.compile(r'name="(embed_token|submission_key|conversation)" value="([^"]*)"')


@pytest.fixture
def chat_embed(db):
    return embed_for(ChatPickaxeFactory(system_instructions="You quiz people on what they learn."))


def chat_page(client, embed, query=""):
    """The embed's page as a visitor's browser opens it: (html, its forms' hidden fields)."""
    response, _ = embed_form(client, embed) if not query else (client.get(f"/e/{embed.token}/{query}"), None)
    assert response.status_code == 200
    html = response.content.decode()
    return html, dict(FIELDS.findall(html))


def send(client, embed, message, fields=None, **extra):
    """Send a message as a browser without JavaScript does (the page when the answer has ended)."""
    if fields is None:
        _, fields = chat_page(client, embed)
    return post_without_javascript(client, f"/e/{embed.token}/run/", {**fields, "message": message, **extra})


def fields_of(response):
    return dict(FIELDS.findall(response.content.decode()))


def test_the_chat_embed_shows_the_opening_message_the_starters_and_a_send_box(client, chat_embed):
    html, fields = chat_page(client, chat_embed)
    assert "Hi! What are you learning today?" in html and 'data-testid="chat-opening"' in html
    assert html.count('data-testid="chat-starter"') == 2 and "Quiz me on French verbs" in html
    assert ">Send</button>" in html and "New conversation" in html
    assert fields["conversation"] == "" and fields["embed_token"] and fields["submission_key"]
    assert "embed-chat.js" in html and "run.js" not in html


def test_each_message_in_an_embed_is_charged_once_to_the_owner(client, chat_embed, fake_openai):
    owner = chat_embed.pickaxe.owner
    first = send(client, chat_embed, "I am learning French verbs.")
    assert first.status_code == 200 and "Hello from the fake model" in first.content.decode()
    second = send(client, chat_embed, "Quiz me.", fields_of(first))
    html = second.content.decode()
    assert html.count('data-testid="chat-sent"') == 2 and html.count('data-testid="run-output"') == 2
    runs = list(Run.objects.order_by("position"))
    assert [run.position for run in runs] == [1, 2]
    assert {(run.payer, run.submitted_by, run.source) for run in runs} == {(owner, None, "embed")}
    assert runs[0].conversation == runs[1].conversation
    assert credits.balance(owner) == 23
    # The model was sent the instructions, the opening message, the first exchange, the new message.
    sent = fake_openai.requests[-1]["json"]["messages"]
    assert [m["role"] for m in sent] == ["system", "assistant", "user", "assistant", "user"]
    assert sent[2]["content"] == "I am learning French verbs." and sent[-1]["content"] == "Quiz me."


def test_the_visitors_conversation_survives_a_reload_and_a_new_one_starts_with_one_click(
    client, chat_embed, fake_openai
):
    send(client, chat_embed, "I am learning French verbs.")
    conversation = Conversation.objects.get()
    assert conversation.holder.startswith(f"embed:{chat_embed.pk}:") and conversation.source == "embed"
    html, fields = chat_page(client, chat_embed)  # a reload
    assert "I am learning French verbs." in html and "Hello from the fake model" in html
    assert fields["conversation"] == conversation.public_id
    assert 'data-testid="chat-starter"' not in html  # starters are for an empty conversation

    html, fields = chat_page(client, chat_embed, "?new")
    assert "I am learning French verbs." not in html and fields["conversation"] == ""
    send(client, chat_embed, "Now chemistry.", fields)
    assert Conversation.objects.count() == 2
    assert Run.objects.get(inputs={"message": "Now chemistry."}).position == 1
    # Another visitor (another cookie) sees none of it.
    other, _ = chat_page(Client(), chat_embed)
    assert "Now chemistry." not in other and "I am learning French verbs." not in other


def test_another_visitors_conversation_is_a_404_in_the_embed_and_charges_nothing(client, chat_embed, fake_openai):
    send(client, chat_embed, "My secret study plan.")
    theirs = Conversation.objects.get().public_id
    stranger = Client()
    _, fields = chat_page(stranger, chat_embed)
    for conversation in (theirs, "made-up-id"):
        response = send(stranger, chat_embed, "Show me.", {**fields, "conversation": conversation})
        assert response.status_code == 404
        assert "My secret study plan." not in response.content.decode()
    assert send(stranger, chat_embed, "Show me.", {**fields, "conversation": "bad\x00id"}).status_code in (400, 404)
    assert Run.objects.count() == 1 and credits.balance(chat_embed.pickaxe.owner) == 24


def test_a_replayed_message_with_the_same_submission_key_is_answered_with_its_first_run(
    client, chat_embed, fake_openai
):
    _, fields = chat_page(client, chat_embed)
    first = send(client, chat_embed, "Hello there.", fields)
    again = send(client, chat_embed, "Hello there.", fields)
    assert "Hello from the fake model" in again.content.decode()
    assert Run.objects.count() == 1 and Conversation.objects.count() == 1
    assert fields_of(again)["conversation"] == fields_of(first)["conversation"]
    assert credits.balance(chat_embed.pickaxe.owner) == 24 and len(fake_openai.requests) == 1


def test_a_failed_message_is_refunded_marked_not_answered_and_retryable(client, chat_embed, fake_openai):
    fake_openai.error_status = 500
    failed = send(client, chat_embed, "Explain the subjunctive.")
    html = failed.content.decode()
    assert 'data-testid="chat-not-answered"' in html and "Not answered — not charged." in html
    assert "data-chat-retry" in html and 'name="message" value="Explain the subjunctive."' in html
    assert credits.balance(chat_embed.pickaxe.owner) == 25
    fake_openai.error_status = None
    retried = send(client, chat_embed, "Explain the subjunctive.", fields_of(failed))
    html = retried.content.decode()
    assert "Hello from the fake model" in html
    assert html.count("Not answered — not charged.") == 1  # the failed one stays, marked
    failed_run, answered = Run.objects.order_by("position")
    assert (failed_run.position, failed_run.status, failed_run.refunded) == (1, "failed", True)
    assert (answered.position, answered.status, answered.conversation_id) == (
        2,
        "succeeded",
        failed_run.conversation_id,
    )
    assert credits.balance(chat_embed.pickaxe.owner) == 24
    # A failed message is not part of what the model is sent.
    assert [m["role"] for m in fake_openai.requests[-1]["json"]["messages"]] == ["system", "assistant", "user"]


def test_an_owner_out_of_credits_gives_the_resting_message_and_nothing_reaches_the_model(
    client, chat_embed, fake_openai, run_tasks
):
    owner = chat_embed.pickaxe.owner
    credit_services.set_allowance(owner, 0, reason="test")
    html = send(client, chat_embed, "Hello?").content.decode()
    run_tasks()
    assert "This tool is resting. Please try again later." in html
    assert "credit" not in html.lower().replace("not charged", "") and owner.email not in html
    assert not fake_openai.requests and not Run.objects.exists() and not Conversation.objects.exists()


def test_prompt_runs_per_user_counts_messages(client, chat_embed, fake_openai):
    chat_embed.runs_per_visitor, chat_embed.period = 2, "day"
    chat_embed.save()
    first = send(client, chat_embed, "One.")
    second = send(client, chat_embed, "Two.", fields_of(first))
    third = send(client, chat_embed, "Three.", fields_of(second)).content.decode()
    assert "reached the limit of this tool" in third
    assert Run.objects.count() == 2 and len(fake_openai.requests) == 2


def test_a_message_too_long_or_empty_is_refused_before_any_charge(client, chat_embed, fake_openai, settings):
    settings.RUN_INPUT_MAX_CHARS = 20
    for message in ("x" * 21, "   "):
        response = send(client, chat_embed, message)
        assert response.status_code == 400 and 'data-testid="run-error"' in response.content.decode()
    assert not Run.objects.exists() and not fake_openai.requests


def test_a_streamed_message_names_its_conversation_for_the_page_to_continue(client, chat_embed, fake_openai):
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    _, fields = chat_page(client, chat_embed)

    async def post():
        browser = AsyncClient()
        browser.cookies = client.cookies
        response = await browser.post(
            f"/e/{chat_embed.token}/run/", {**fields, "message": "Hi."}, headers={"accept": "text/event-stream"}
        )
        return response, b"".join([chunk async for chunk in response.streaming_content]).decode()

    response, body = async_to_sync(post)()
    conversation = Conversation.objects.get()
    assert response["Pickaxe-Conversation"] == conversation.public_id
    name, end = sse_events(body)[-1]
    assert name == "end" and end["ok"] and end["conversation"] == conversation.public_id
    assert end["balance"] is None and not end["billing_url"]  # nothing about the owner


def test_the_usage_page_counts_messages_and_conversations(client, chat_embed, fake_openai):
    first = send(client, chat_embed, "One.")
    send(client, chat_embed, "Two.", fields_of(first))
    send(Client(), chat_embed, "Another visitor.")
    owner = Client()
    owner.force_login(chat_embed.pickaxe.owner)
    html = owner.get(f"/studio/{chat_embed.pickaxe.slug}/usage/").content.decode()
    assert re.search(
        r'data-testid="usage-total">3</strong> messages sent in <strong data-testid="usage-conversations">2<', html
    )
    assert re.search(
        r'data-testid="embed-runs">3</strong> messages in <strong data-testid="embed-conversations">2<', html
    )


@pytest.mark.parametrize("kind", ["chat", "form"])
def test_a_forged_form_token_is_refused_with_the_page_of_its_kind_and_charges_nothing(
    client, chat_embed, embed, fake_openai, kind
):
    target = chat_embed if kind == "chat" else embed
    _, fields = chat_page(client, target)
    data = {**fields, "embed_token": "forged", "message": "Hi.", "topic": "the sea"}
    response = post_without_javascript(client, f"/e/{target.token}/run/", data)
    html = response.content.decode()
    assert response.status_code == 400 and "Reload the page" in html
    assert ("data-chat-form" in html) == (kind == "chat") and ("data-run-form" in html) == (kind == "form")
    assert not Run.objects.exists() and not fake_openai.requests
