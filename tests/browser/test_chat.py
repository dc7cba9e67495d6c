"""Chat pickaxes in Chromium at 1280 and 390 px, against the ASGI app (answers stream): a
chat of three messages on the site (a failed one marked and retried), the chat at 0
credits, without JavaScript, and Test in the studio. Screenshots go to /tmp/shots-chat/
(or CHAT_SHOTS) for people to look at."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from credits import services as credits
from pickaxes.models import Conversation, Pickaxe, Run
from tests.browser.test_run_pickaxe import log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("CHAT_SHOTS", "/tmp/shots-chat"))
WIDTHS = {"desktop": 1280, "phone": 390}
HEADER_BALANCE = "header [data-testid=credit-balance]"
OUTPUT = "[data-testid=run-output]"
ERROR = "[data-testid=run-error]"


def shoot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


@pytest.fixture
def study_buddy(db):
    return Pickaxe.objects.create(
        owner=UserFactory(email="teacher@example.com"),
        name="Study buddy",
        slug="study-buddy",
        kind=Pickaxe.Kind.CHAT,
        description="Tell it what you are learning; it quizzes you.",
        visibility=Pickaxe.Visibility.PUBLIC,
        system_instructions="You quiz people on what they are learning.",
        prompt_template="",
        opening_message="Hi! What are you learning at the moment?",
        starters="Quiz me on French verbs\nI'm learning the periodic table\nTest me on dates",
        model="gpt-4o-mini",
    )


def send(page, text):
    page.get_by_label("Your message").fill(text)
    page.get_by_test_id("send").click()


@pytest.mark.parametrize("device", WIDTHS)
def test_a_chat_of_three_messages_on_the_site(new_page, asgi_live_server, fake_openai, study_buddy, device):
    page = new_page(asgi_live_server, viewport={"width": WIDTHS[device], "height": 900})
    fake_openai.reply = "Good! What is the past participle of être?"
    fake_openai.chunk_delay = 0.03
    user = UserFactory(email=f"learner-{device}@example.com")
    log_in(page, user.email)
    page.goto("/p/study-buddy/")
    expect(page.get_by_text("Hi! What are you learning at the moment?")).to_be_visible()
    expect(page.get_by_test_id("starter")).to_have_count(3)
    expect(page.locator(HEADER_BALANCE)).to_have_text("25")
    shoot(page, f"chat-empty-{device}")

    # 1: a suggested first message, streamed in; the address names the conversation.
    page.get_by_test_id("starter").first.click()
    expect(page.locator(OUTPUT)).to_have_count(1)
    expect(page.locator(OUTPUT).first).to_have_text(fake_openai.reply)
    expect(page.locator(HEADER_BALANCE)).to_have_text("24")
    conversation = Conversation.objects.get()
    expect(page).to_have_url(f"/p/study-buddy/?c={conversation.public_id}")
    expect(page.get_by_test_id("starter")).to_have_count(0)

    # 2: typed, sent with Enter.
    fake_openai.reply = "Right: été. Next: the past participle of avoir?"
    page.get_by_label("Your message").fill("été")
    page.get_by_label("Your message").press("Enter")
    expect(page.locator(OUTPUT)).to_have_count(2)
    expect(page.locator(OUTPUT).nth(1)).to_have_text(fake_openai.reply)
    expect(page.locator(HEADER_BALANCE)).to_have_text("23")

    # 3: the model fails before any output: marked, not charged, with Retry.
    fake_openai.error_status = 500
    send(page, "eu")
    expect(page.locator(ERROR)).to_contain_text("Not answered — not charged.")
    expect(page.locator(HEADER_BALANCE)).to_have_text("23")
    shoot(page, f"chat-failed-{device}")
    fake_openai.error_status = None
    fake_openai.reply = "Yes, eu. Well done: three out of three."
    page.get_by_test_id("retry").click()
    expect(page.locator(OUTPUT)).to_have_count(3)
    expect(page.locator(OUTPUT).nth(2)).to_have_text(fake_openai.reply)
    expect(page.locator(HEADER_BALANCE)).to_have_text("22")
    expect(page.locator(ERROR)).to_contain_text("Not answered — not charged.")  # the failed one stays
    shoot(page, f"chat-three-messages-{device}")

    # The model was sent the conversation so far, never the failed message twice.
    sent = fake_openai.requests[-1]["json"]["messages"]
    assert [m["role"] for m in sent] == ["system", "assistant", "user", "assistant", "user", "assistant", "user"]
    assert sent[-1]["content"] == "eu"
    runs = Run.objects.filter(conversation=conversation).order_by("position")
    assert [(r.status, r.refunded) for r in runs] == [
        ("succeeded", False),
        ("succeeded", False),
        ("failed", True),
        ("succeeded", False),
    ]

    # A reload shows the whole conversation; a new one starts with one click.
    page.reload()
    expect(page.locator(OUTPUT)).to_have_count(3)
    expect(page.locator(ERROR)).to_have_count(1)
    page.get_by_test_id("new-chat").click()
    expect(page).to_have_url("/p/study-buddy/")
    expect(page.locator(OUTPUT)).to_have_count(0)
    expect(page.get_by_test_id("starter")).to_have_count(3)

    # The history lists it, and opens it to continue.
    page.goto("/account/runs/")
    history = page.get_by_test_id("conversation-history")
    expect(history).to_contain_text("Quiz me on French verbs")
    expect(history).to_contain_text("4 messages")
    expect(history).to_contain_text("3 credits")
    shoot(page, f"chat-history-{device}")
    history.get_by_role("link", name="Open and continue").click()
    expect(page.locator(OUTPUT)).to_have_count(3)


@pytest.mark.parametrize("device", WIDTHS)
def test_at_0_credits_send_is_off_and_the_page_says_when_a_credit_returns(
    new_page, asgi_live_server, fake_openai, study_buddy, device
):
    page = new_page(asgi_live_server, viewport={"width": WIDTHS[device], "height": 900})
    user = UserFactory(email=f"broke-{device}@example.com")
    credits.set_allowance(user, 1, reason="test")
    fake_openai.reply = "One answer."
    log_in(page, user.email)
    page.goto("/p/study-buddy/")
    send(page, "hello")
    expect(page.locator(OUTPUT)).to_have_text("One answer.")
    expect(page.locator(HEADER_BALANCE)).to_have_text("0")
    expect(page.get_by_test_id("send")).to_be_disabled()
    page.reload()
    expect(page.get_by_test_id("send")).to_be_disabled()
    expect(page.get_by_test_id("before-submit")).to_contain_text("your next credit comes back on")
    shoot(page, f"chat-no-credits-{device}")
    assert len(fake_openai.requests) == 1


def test_without_javascript_each_message_posts_and_the_whole_conversation_comes_back(
    new_page, asgi_live_server, fake_openai, study_buddy
):
    page = new_page(asgi_live_server, java_script_enabled=False, viewport={"width": 390, "height": 844})
    fake_openai.reply = "Answered without JavaScript."
    user = UserFactory(email="nojs@example.com")
    log_in(page, user.email)
    page.goto("/p/study-buddy/")
    send(page, "first")
    expect(page.locator(OUTPUT)).to_have_count(1)
    send(page, "second")
    expect(page.locator(OUTPUT)).to_have_count(2)
    expect(page.get_by_text("first", exact=True)).to_be_visible()
    expect(page.locator(HEADER_BALANCE)).to_have_text("23")
    shoot(page, "chat-no-javascript-phone")
    assert Run.objects.filter(conversation__isnull=False).count() == 2
    assert Conversation.objects.count() == 1


@pytest.mark.parametrize("device", WIDTHS)
def test_test_in_the_studio_is_a_chat_the_owner_pays_for(new_page, asgi_live_server, fake_openai, study_buddy, device):
    page = new_page(asgi_live_server, viewport={"width": WIDTHS[device], "height": 900})
    fake_openai.reply = "A test answer."
    log_in(page, "teacher@example.com")
    page.goto("/studio/study-buddy/")
    expect(page.get_by_test_id("kind-choice").get_by_label("Chat", exact=False)).to_be_checked()
    expect(page.locator("[data-kind-section=form]").first).to_be_hidden()
    expect(page.get_by_role("button", name="+ Add a field")).to_be_hidden()
    expect(page.get_by_label("Opening message")).to_be_visible()
    panel = page.get_by_test_id("test-chat")
    panel.get_by_label("Your message").fill("Does this work?")
    panel.get_by_test_id("send").click()
    expect(panel.locator(OUTPUT)).to_have_text("A test answer.")
    panel.get_by_label("Your message").fill("And again?")
    panel.get_by_test_id("send").click()
    expect(panel.locator(OUTPUT)).to_have_count(2)
    expect(page.locator(HEADER_BALANCE)).to_have_text("23")
    shoot(page, f"chat-studio-test-{device}")
    assert set(Run.objects.values_list("source", flat=True)) == {"test"}
    assert Run.objects.first().payer.email == "teacher@example.com"
    # Switching the kind shows a form's template and fields instead.
    page.get_by_test_id("kind-choice").get_by_label("Form", exact=False).check()
    expect(page.get_by_role("button", name="+ Add a field")).to_be_visible()
    expect(page.locator("[data-kind-section=chat]")).to_be_hidden()


def test_a_visitor_sees_the_chat_and_a_long_conversation_says_what_is_forgotten(
    new_page, asgi_live_server, fake_openai, study_buddy, settings
):
    page = new_page(asgi_live_server, viewport={"width": 390, "height": 844})
    page.goto("/p/study-buddy/")
    expect(page.get_by_text("You will be asked to log in when you send a message.")).to_be_visible()
    shoot(page, "chat-visitor-phone")

    settings.RUN_PROMPT_MAX_CHARS = 400
    fake_openai.reply = "A fairly long answer that takes up a good part of what the model may be sent each time."
    log_in(page, UserFactory(email="long@example.com").email)
    page.goto("/p/study-buddy/")
    for number in range(4):
        send(page, f"Question number {number} about the periodic table and its groups")
        expect(page.locator(OUTPUT)).to_have_count(number + 1)
        expect(page.locator(OUTPUT).nth(number)).to_have_text(fake_openai.reply)
    expect(page.get_by_test_id("chat-forgotten")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("chat-forgotten")).to_contain_text("no longer sent to the model")
    shoot(page, "chat-forgotten-phone")
