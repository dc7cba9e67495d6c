"""The studio makes a form or a chat: a chat has hidden instructions, an opening message and
up to four suggested first messages, and no fields or template to check."""

import pytest

from pickaxes.models import InputField, Pickaxe
from tests.pickaxes.factories import PickaxeFactory
from tests.pickaxes.test_studio import editor_data


@pytest.fixture
def creator(client, user):
    client.force_login(user)
    return user


def chat_data(**overrides):
    chat = {
        "kind": "chat",
        "name": "Study buddy",
        "prompt_template": "",
        "opening_message": "Hi! What are you learning?",
        "starters": "Quiz me on French verbs\nExplain photosynthesis",
    }
    return editor_data(**{**chat, **overrides})


def test_a_chat_is_saved_without_a_template_or_fields(client, creator):
    data = chat_data(**{"fields-TOTAL_FORMS": "0"})
    response = client.post("/studio/new/", data)
    assert response.status_code == 302
    pickaxe = Pickaxe.objects.get()
    assert pickaxe.is_chat and pickaxe.prompt_template == ""
    assert pickaxe.starter_list() == ["Quiz me on French verbs", "Explain photosynthesis"]
    assert not pickaxe.fields.exists()


def test_a_chat_ignores_the_fields_posted_with_it(client, creator):
    response = client.post("/studio/new/", chat_data(**{"fields-1-choices": ""}))  # an invalid field, ignored
    assert response.status_code == 302 and not InputField.objects.exists()


def test_a_chat_takes_at_most_four_suggested_first_messages(client, creator):
    response = client.post("/studio/new/", chat_data(starters="a\nb\nc\nd\ne"))
    assert response.status_code == 200 and "At most 4 suggested first messages" in response.content.decode()
    assert not Pickaxe.objects.exists()


def test_a_form_still_needs_its_template(client, creator):
    response = client.post("/studio/new/", editor_data(kind="form", prompt_template=""))
    assert response.status_code == 200 and "A form needs a prompt template." in response.content.decode()


def test_a_form_switched_to_a_chat_keeps_its_fields_for_a_switch_back(client, creator):
    pickaxe = PickaxeFactory(owner=creator)
    data = chat_data(
        name=pickaxe.name, slug=pickaxe.slug, prompt_template=pickaxe.prompt_template, **{"fields-TOTAL_FORMS": "0"}
    )
    assert client.post(f"/studio/{pickaxe.slug}/", data).status_code == 302
    pickaxe.refresh_from_db()
    assert pickaxe.is_chat and pickaxe.prompt_template == "Write about {{topic}}." and pickaxe.fields.count() == 1


def test_the_editor_offers_both_kinds_and_a_chats_test_is_a_chat(client, creator):
    html = client.get("/studio/new/").content.decode()
    assert 'name="kind" value="form"' in html and 'name="kind" value="chat"' in html
    assert 'data-kind-section="chat"' in html and 'data-kind-section="form"' in html
    client.post("/studio/new/", chat_data(**{"fields-TOTAL_FORMS": "0"}))
    html = client.get("/studio/study-buddy/").content.decode()
    assert 'data-testid="test-chat"' in html and 'data-testid="send"' in html


def test_a_chat_is_tagged_on_the_home_page_and_in_the_studio(client, creator):
    from tests.pickaxes.factories import ChatPickaxeFactory

    ChatPickaxeFactory(owner=creator, name="Study buddy")
    assert 'data-testid="chat-tag"' in client.get("/").content.decode()
    assert "tag-chat" in client.get("/studio/").content.decode()
