"""What a chat's model is sent for one message: the instructions, the opening message, the
earlier turns newest kept first within RUN_PROMPT_MAX_CHARS, then the new message."""

import asyncio

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from credits import services as credit_services
from pickaxes import chat, llm, services
from pickaxes.models import Conversation, Run
from tests.pickaxes.factories import ChatPickaxeFactory, send_message


def answer(started, output):
    return services.finish_run(started.run, output=output, model="m", prompt_tokens=1, completion_tokens=1)


def test_a_message_is_a_run_at_the_next_position_of_its_conversation(db, user):
    pickaxe = ChatPickaxeFactory()
    first = send_message(pickaxe, user, "Quiz me on French verbs", "k1")
    second = send_message(pickaxe, user, "être", "k2", conversation=first.run.conversation)
    assert (first.run.position, second.run.position) == (1, 2)
    conversation = Conversation.objects.get()
    assert conversation.holder == f"user:{user.pk}" and conversation.title == "Quiz me on French verbs"
    assert len(conversation.public_id) >= 20
    assert first.run.inputs == {"message": "Quiz me on French verbs"}


def test_the_model_is_sent_instructions_opening_message_earlier_turns_then_the_new_message(db, user):
    pickaxe = ChatPickaxeFactory()
    first = send_message(pickaxe, user, "Quiz me", "k1")
    answer(first, "What is 'to be'?")
    second = send_message(pickaxe, user, "être", "k2", conversation=first.run.conversation)
    assert second.prompt.messages == [
        {"role": "system", "content": "You are a patient tutor."},
        {"role": "assistant", "content": "Hi! What are you learning today?"},
        {"role": "user", "content": "Quiz me"},
        {"role": "assistant", "content": "What is 'to be'?"},
        {"role": "user", "content": "être"},
    ]
    assert second.prompt.forgotten is False


def test_the_prompt_bounded_keeps_the_newest_turns_that_fit_and_says_the_earliest_are_forgotten(db, user, settings):
    settings.RUN_PROMPT_MAX_CHARS = 300
    pickaxe = ChatPickaxeFactory()
    conversation = None
    for number in range(6):
        started = send_message(pickaxe, user, f"question {number} " + "x" * 40, f"k{number}", conversation=conversation)
        conversation = started.run.conversation
        answer(started, f"answer {number} " + "y" * 40)
    started = send_message(pickaxe, user, "last", "k-last", conversation=conversation)
    sent = started.prompt.messages
    assert sum(len(message["content"]) for message in sent) <= 300
    assert sent[-1] == {"role": "user", "content": "last"}
    assert sent[-2]["content"].startswith("answer 5") and sent[2]["content"].startswith("question ")
    assert started.prompt.forgotten is True
    assert not any("question 0" in message["content"] for message in sent)


def test_the_prompt_bounded_reads_a_bounded_history_however_long_the_conversation(db, user):
    credit_services.grant(user, 100, reason="test")
    pickaxe = ChatPickaxeFactory()
    conversation, queries = None, []
    for number in range(chat.HISTORY_MESSAGES + 5):
        with CaptureQueriesContext(connection) as captured:
            started = send_message(pickaxe, user, f"q{number}", f"k{number}", conversation=conversation)
        queries.append(len(captured))
        conversation = started.run.conversation
        answer(started, f"a{number}")
    started = send_message(pickaxe, user, "next", "k-next", conversation=conversation)
    assert queries[-1] == queries[1]  # the 25th message costs the queries of the 2nd
    assert len(started.prompt.messages) == 2 + 2 * chat.HISTORY_MESSAGES + 1
    assert started.prompt.forgotten is True
    assert len(chat.earlier_messages(started.run)) == chat.HISTORY_MESSAGES + 1


def test_a_failed_message_is_not_sent_again_as_history(db, user):
    pickaxe = ChatPickaxeFactory()
    first = send_message(pickaxe, user, "lost", "k1")
    services.fail_run(first.run, error="down")
    retry = send_message(pickaxe, user, "lost", "k2", conversation=first.run.conversation)
    assert retry.run.position == 2
    assert [m["role"] for m in retry.prompt.messages] == ["system", "assistant", "user"]
    assert Run.objects.get(pk=first.run.pk).refunded


def test_a_refused_message_leaves_no_empty_conversation(db, make_user):
    poor = make_user()
    credit_services.set_allowance(poor, 0, reason="test")
    with pytest.raises(credit_services.OutOfCredits):
        send_message(ChatPickaxeFactory(), poor, "hello", "k1")
    assert not Conversation.objects.exists() and not Run.objects.exists()


def test_the_demo_model_counts_the_earlier_turns_and_repeats_no_hidden_word(settings):
    settings.OPENAI_API_KEY = ""
    settings.DEMO_MODEL_DELAY_SECONDS = 0
    messages = [
        {"role": "system", "content": "Secretly behave like Bartholomew"},
        {"role": "assistant", "content": "Greetings traveller"},
        {"role": "user", "content": "Mountains"},
        {"role": "assistant", "content": "Rivers"},
        {"role": "user", "content": "Volcanoes erupting"},
    ]
    completion = llm.start_completion(model="x", messages=messages, temperature=0.5, max_tokens=400)

    async def collect():
        return "".join([piece async for piece in completion])

    text = asyncio.run(collect())
    assert "message 2 of our chat" in text and "2 earlier answers" in text
    for hidden in ("Secretly", "Bartholomew", "Greetings", "traveller", "Mountains", "Rivers", "Volcanoes"):
        assert hidden not in text
