"""A chat pickaxe's embed in Chromium, on another site (the host page of test_embed.py on
http://127.0.0.1:<port>, the app as http://localhost:<port>): three messages, each one
run the owner pays for, the answers streamed in; a reload keeps the conversation; at 1280
and at 390 px."""

import pytest
from playwright.sync_api import expect

from credits import selectors as credits
from embeds.services import embed_for
from pickaxes.models import Conversation, Run
from tests.browser import test_embed as embed_tests
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_embed import FRAME, owner_snippet, visitor_on
from tests.pickaxes.factories import ChatPickaxeFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The embed tests' fixtures: the app also as http://localhost, a stranger's website.
app, host_site = embed_tests.app, embed_tests.host_site

SENT = "[data-testid=chat-sent]"
ANSWER = "[data-testid=run-output]"


@pytest.fixture
def chat(db):
    pickaxe = ChatPickaxeFactory(
        name="Study buddy",
        slug="study-buddy-test",
        description="Tell it what you are learning; it quizzes you.",
        system_instructions="You are a patient tutor who asks one quiz question at a time.",
        opening_message="Hi! What are you learning at the moment?",
        starters="Quiz me on French verbs\nHelp me revise photosynthesis",
    )
    embed_for(pickaxe)
    return pickaxe


def send(frame, text):
    frame.get_by_label("Message").fill(text)
    frame.get_by_role("button", name="Send").click()


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_a_visitor_has_a_chat_of_three_messages_in_an_embed_on_another_site_and_the_owner_pays_each(
    app, host_site, new_page, fake_openai, chat, screenshot, width, height
):
    fake_openai.chunk_delay = 0.01
    owner = chat.owner
    host_url = host_site.serve("/study.html", owner_snippet(app, chat))
    page = visitor_on(new_page, app, host_url, viewport={"width": width, "height": height})
    frame = page.frame_locator(FRAME)
    expect(frame.get_by_test_id("chat-opening")).to_have_text("Hi! What are you learning at the moment?")
    expect(frame.get_by_test_id("chat-starter")).to_have_count(2)
    screenshot(f"embed-chat-empty-{width}", page)

    # A starter is the first message.
    frame.get_by_role("button", name="Quiz me on French verbs").click()
    expect(frame.locator(ANSWER)).to_have_count(1)
    expect(frame.locator(ANSWER).nth(0)).to_contain_text("Hello from the fake model")
    expect(frame.get_by_test_id("chat-starter")).to_have_count(0)
    expect(frame.get_by_role("button", name="Send")).to_be_enabled()

    fake_openai.reply = "Très bien! Next: what is the past participle of « prendre »?"
    send(frame, "I know « être » and « avoir » already.")
    expect(frame.locator(ANSWER).nth(1)).to_contain_text("past participle of « prendre »")
    expect(frame.get_by_role("button", name="Send")).to_be_enabled()

    fake_openai.reply = "Correct: « pris ». One more?"
    send(frame, "Pris.")
    expect(frame.locator(ANSWER).nth(2)).to_contain_text("Correct: « pris »")
    expect(frame.locator(SENT)).to_have_count(3)
    expect(frame.get_by_label("Message")).to_have_value("")
    screenshot(f"embed-chat-three-messages-{width}", page)

    runs = list(Run.objects.order_by("position"))
    assert [run.position for run in runs] == [1, 2, 3]
    assert {(run.source, run.payer_id, run.submitted_by_id) for run in runs} == {("embed", owner.pk, None)}
    assert len({run.conversation_id for run in runs}) == 1
    assert credits.balance(owner) == 22
    # The third message was sent with the whole conversation before it.
    sent = fake_openai.requests[-1]["json"]["messages"]
    assert [m["role"] for m in sent] == ["system", "assistant"] + ["user", "assistant"] * 2 + ["user"]

    # A reload shows the same conversation, and the next message continues it.
    page.reload()
    expect(frame.locator(SENT)).to_have_count(3)
    expect(frame.locator(ANSWER)).to_have_count(3)
    send(frame, "Yes, one more.")
    expect(frame.locator(ANSWER).nth(3)).to_contain_text("One more?")
    expect(frame.get_by_role("button", name="Send")).to_be_enabled()
    assert Conversation.objects.count() == 1 and Run.objects.get(position=4).conversation_id == runs[0].conversation_id

    # A failed message is marked, costs nothing, and Retry sends it again.
    fake_openai.error_status = 500
    send(frame, "Give me a hard one.")
    expect(frame.get_by_test_id("chat-not-answered")).to_contain_text("Not answered — not charged.")
    assert credits.balance(owner) == 21
    screenshot(f"embed-chat-not-answered-{width}", page)
    fake_openai.error_status = None
    fake_openai.reply = "Here is a hard one: the passé simple of « venir »?"
    frame.get_by_role("button", name="Retry").click()
    expect(frame.locator(ANSWER)).to_have_count(5)
    expect(frame.locator(ANSWER).nth(4)).to_contain_text("passé simple")
    expect(frame.get_by_test_id("chat-not-answered")).to_have_count(1)
    assert credits.balance(owner) == 20

    # A new conversation starts with one click.
    frame.get_by_role("link", name="New conversation").click()
    expect(frame.locator(SENT)).to_have_count(0)
    expect(frame.get_by_test_id("chat-starter")).to_have_count(2)
    send(frame, "Now chemistry.")
    expect(frame.locator(ANSWER).nth(0)).to_contain_text("passé simple")
    expect(frame.get_by_role("button", name="Send")).to_be_enabled()
    assert Conversation.objects.count() == 2
    page.reload()  # the new conversation is the one shown again
    expect(frame.locator(SENT)).to_have_count(1)
    expect(frame.locator(SENT).nth(0)).to_have_text("Now chemistry.")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_api_guide_shows_the_chat_examples_and_the_usage_page_counts_messages_and_conversations(
    new_page, asgi_live_server, fake_openai, chat, screenshot, width
):
    from embeds.services import create_api_key, start_embed_run
    from tests.browser.test_credits_account import log_in

    embed = embed_for(chat)
    for visitor, messages in (("a" * 32, 2), ("b" * 32, 1)):
        conversation = None
        for number in range(messages):
            started = start_embed_run(
                embed=embed,
                visitor_id=visitor,
                visitor_ip="x",
                inputs={"message": f"Message {number}"},
                submission_key=f"{visitor[:4]}-{number}-0123456789abcdef",
                conversation=conversation,
            )
            conversation = started.run.conversation
    create_api_key(owner=chat.owner, name="backend")
    page = new_page(asgi_live_server, viewport={"width": width, "height": 900})
    log_in(page, chat.owner.email)

    page.goto("/api/v1/docs/#chat")
    expect(page.get_by_test_id("chat-shell-example")).to_contain_text(f"/api/v1/pickaxes/{chat.slug}/runs")
    expect(page.get_by_test_id("chat-python-example")).to_contain_text('run["conversation"]')
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    screenshot(f"api-docs-chat-{width}", page)
    page.locator("#chat").screenshot(path=SCREENSHOTS / f"api-docs-chat-section-{width}.png")

    page.goto(f"/studio/{chat.slug}/usage/")
    expect(page.get_by_test_id("usage-total")).to_have_text("3")
    expect(page.get_by_test_id("usage-conversations")).to_have_text("2")
    expect(page.get_by_test_id("embed-conversations")).to_have_text("2")
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    screenshot(f"usage-chat-{width}", page)


def test_without_javascript_a_message_in_the_embed_comes_back_with_the_whole_conversation(
    app, host_site, new_page, fake_openai, chat, screenshot
):
    host_url = host_site.serve("/study.html", owner_snippet(app, chat))
    page = visitor_on(new_page, app, host_url, java_script_enabled=False, viewport={"width": 390, "height": 844})
    frame = page.frame_locator(FRAME)
    for number, text in enumerate(["First question.", "Second question."], start=1):
        frame.get_by_label("Message").fill(text)
        frame.get_by_role("button", name="Send").click()
        expect(frame.locator(SENT)).to_have_count(number)
        expect(frame.locator(ANSWER)).to_have_count(number)
    expect(frame.locator(SENT).nth(0)).to_have_text("First question.")
    screenshot("embed-chat-no-javascript-390", page)
    runs = list(Run.objects.order_by("position"))
    assert [run.position for run in runs] == [1, 2] and runs[0].conversation_id == runs[1].conversation_id
    assert credits.balance(chat.owner) == 23
