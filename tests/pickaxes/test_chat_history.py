"""History for chats: /account/runs/ lists a person's conversations (title from the first
message, messages, credits spent) beside form runs, in a fixed number of queries; each opens
the chat with that conversation; the activity list shows each charged message as a run;
staff read conversations in the admin."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from credits import services as credit_services
from pickaxes import activity, services
from tests.pickaxes.factories import ChatPickaxeFactory, send_message


def chat_of(pickaxe, user, messages, *, failed=(), prefix="k", testing=False):
    conversation = None
    for number, message in enumerate(messages):
        started = send_message(
            pickaxe, user, message, f"{prefix}{number:020d}", conversation=conversation, testing=testing
        )
        conversation = started.run.conversation
        if number in failed:
            services.fail_run(started.run, error="down")
        else:
            services.finish_run(started.run, output=f"answer {number}", model="m", prompt_tokens=1, completion_tokens=1)
    return conversation


def test_the_history_lists_conversations_with_title_messages_and_credits(client, user, pickaxe):
    chat_pickaxe = ChatPickaxeFactory(name="Study buddy")
    conversation = chat_of(chat_pickaxe, user, ["Quiz me on French verbs", "être", "avoir"], failed={1})
    client.force_login(user)
    html = client.get("/account/runs/").content.decode()
    assert 'data-testid="conversation-history"' in html
    assert "Quiz me on French verbs" in html and "3 messages" in html and "2 credits" in html
    assert f'href="/p/{chat_pickaxe.slug}/?c={conversation.public_id}"' in html
    assert "avoir" not in html  # the messages are in the conversation, not listed as runs
    page = client.get(f"/p/{chat_pickaxe.slug}/?c={conversation.public_id}").content.decode()
    assert all(text in page for text in ("Quiz me on French verbs", "être", "avoir", "answer 2"))
    assert "Not answered — not charged." in page


def test_the_history_of_conversations_costs_the_same_queries_for_2_or_12_conversations(client, user):
    credit_services.grant(user, 100, reason="test")
    client.force_login(user)
    counts = []
    for conversations in (2, 10):
        for number in range(conversations):
            chat_of(ChatPickaxeFactory(), user, ["hello", "again"], prefix=f"c{conversations}-{number}-")
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/account/runs/").status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1]


def test_a_test_conversation_opens_in_the_studio(client, user):
    chat_pickaxe = ChatPickaxeFactory(owner=user)
    conversation = chat_of(chat_pickaxe, user, ["trying it"], testing=True)
    client.force_login(user)
    html = client.get("/account/runs/").content.decode()
    assert f'href="/studio/{chat_pickaxe.slug}/?c={conversation.public_id}#test"' in html


def test_no_one_elses_conversation_in_my_history(client, user, make_user):
    chat_of(ChatPickaxeFactory(), make_user(), ["their secret"])
    client.force_login(user)
    assert "their secret" not in client.get("/account/runs/").content.decode()


def test_the_activity_list_shows_each_charged_message_as_a_run_of_the_pickaxe(user):
    chat_pickaxe = ChatPickaxeFactory(name="Study buddy")
    chat_of(chat_pickaxe, user, ["one", "two"], failed={1})
    lines = activity.activity_page(user).object_list
    messages = [line for line in lines if line.title == "Study buddy"]
    assert [line.state for line in messages] == ["refunded", "charged"]
    assert all(line.detail.startswith("a chat message") and line.url for line in messages)


def test_staff_see_a_conversation_and_its_messages_in_the_admin_read_only(client, user, make_user):
    conversation = chat_of(ChatPickaxeFactory(), user, ["Quiz me", "être"])
    staff = make_user(is_staff=True, is_superuser=True)
    client.force_login(staff)
    listing = client.get("/admin/pickaxes/conversation/").content.decode()
    assert "Quiz me" in listing
    page = client.get(f"/admin/pickaxes/conversation/{conversation.pk}/change/").content.decode()
    assert "être" in page and "answer 1" in page
    assert 'name="_save"' not in page


def test_a_chat_messages_run_page_opens_its_conversation(client, user):
    conversation = chat_of(ChatPickaxeFactory(), user, ["Quiz me"])
    run = conversation.messages.get()
    client.force_login(user)
    html = client.get(f"/account/runs/{run.pk}/").content.decode()
    assert "Message" in html and "Quiz me" in html
    assert f'href="/p/{conversation.pickaxe.slug}/?c={conversation.public_id}"' in html
    assert 'data-testid="run-again"' not in html


def test_a_conversations_page_costs_the_same_queries_for_2_or_20_messages(client, user):
    credit_services.grant(user, 100, reason="test")
    client.force_login(user)
    counts = []
    for length in (2, 20):
        conversation = chat_of(ChatPickaxeFactory(), user, [f"m{n}" for n in range(length)], prefix=f"p{length}-")
        with CaptureQueriesContext(connection) as captured:
            html = client.get(f"/p/{conversation.pickaxe.slug}/?c={conversation.public_id}").content.decode()
        assert html.count('data-testid="run-output"') == length
        counts.append(len(captured))
    assert counts[0] == counts[1]
