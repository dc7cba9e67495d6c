"""The studio: build and edit pickaxes, with clear validation of template and fields."""

import pytest

from pickaxes.models import Pickaxe
from tests.pickaxes.factories import PickaxeFactory


def editor_data(**overrides):
    data = {
        "name": "Haiku maker",
        "slug": "",
        "description": "Three lines about anything.",
        "visibility": "public",
        "system_instructions": "You write haiku.",
        "prompt_template": "A haiku about {{subject}} in a {{mood}} mood.",
        "model": "gpt-4o-mini",
        "temperature": "0.7",
        "max_output_tokens": "200",
        "fields-TOTAL_FORMS": "2",
        "fields-INITIAL_FORMS": "0",
        "fields-MIN_NUM_FORMS": "0",
        "fields-MAX_NUM_FORMS": "20",
        "fields-0-label": "Subject",
        "fields-0-key": "subject",
        "fields-0-kind": "short_text",
        "fields-0-required": "on",
        "fields-0-max_length": "100",
        "fields-0-position": "0",
        "fields-1-label": "Mood",
        "fields-1-key": "mood",
        "fields-1-kind": "choice",
        "fields-1-choices": "calm\nstormy",
        "fields-1-required": "on",
        "fields-1-position": "1",
    }
    data.update(overrides)
    return data


@pytest.fixture
def creator(client, user):
    client.force_login(user)
    return user


def test_studio_needs_sign_in(client, db):
    assert client.get("/studio/").status_code == 302


def test_empty_studio_says_how_to_start(client, creator):
    assert "You have not built a pickaxe yet" in client.get("/studio/").content.decode()


def test_create_a_pickaxe_with_ordered_fields(client, creator):
    response = client.post("/studio/new/", editor_data())
    assert response.status_code == 302 and response["Location"] == "/studio/haiku-maker/"
    pickaxe = Pickaxe.objects.get(slug="haiku-maker")
    assert pickaxe.owner == creator
    assert [(f.key, f.position) for f in pickaxe.fields.all()] == [("subject", 0), ("mood", 1)]
    assert pickaxe.fields.get(key="mood").choice_list() == ["calm", "stormy"]


def test_reorder_and_remove_fields(client, creator):
    client.post("/studio/new/", editor_data())
    pickaxe = Pickaxe.objects.get()
    subject, mood = pickaxe.fields.all()
    data = editor_data(
        **{
            "prompt_template": "A haiku in a {{mood}} mood.",
            "fields-INITIAL_FORMS": "2",
            "fields-0-id": str(subject.pk),
            "fields-0-DELETE": "on",
            "fields-0-position": "1",
            "fields-1-id": str(mood.pk),
            "fields-1-position": "0",
        }
    )
    response = client.post(f"/studio/{pickaxe.slug}/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert [f.key for f in pickaxe.fields.all()] == ["mood"]


def test_a_placeholder_with_no_field_is_explained(client, creator):
    html = client.post("/studio/new/", editor_data(prompt_template="{{subject}} {{mood}} {{colour}}")).content.decode()
    assert "The template uses {{colour}} but no field has that key." in html
    assert not Pickaxe.objects.exists()


def test_a_field_unused_by_the_template_is_explained(client, creator):
    html = client.post("/studio/new/", editor_data(prompt_template="About {{subject}}.")).content.decode()
    assert "The field mood is not used in the template." in html
    assert not Pickaxe.objects.exists()


def test_duplicate_keys_are_explained(client, creator):
    html = client.post("/studio/new/", editor_data(**{"fields-1-key": "subject"})).content.decode()
    assert "Two fields have the same key: subject." in html
    assert not Pickaxe.objects.exists()


def test_bad_keys_models_and_choices_are_explained(client, creator):
    html = client.post(
        "/studio/new/",
        editor_data(**{"fields-0-key": "Subject!", "model": "gpt-unknown", "fields-1-choices": "only one"}),
    ).content.decode()
    assert "Use lowercase letters" in html
    assert "Select a valid choice" in html
    assert "at least two options" in html
    assert not Pickaxe.objects.exists()


def test_a_taken_address_is_explained(client, creator):
    PickaxeFactory(slug="haiku-maker")
    html = client.post("/studio/new/", editor_data()).content.decode()
    assert "The address /p/haiku-maker/ is taken" in html


def test_only_the_owner_can_edit(client, creator, pickaxe):
    assert client.get(f"/studio/{pickaxe.slug}/").status_code == 404
    assert client.post(f"/studio/{pickaxe.slug}/", editor_data()).status_code == 404


def test_edit_page_has_a_test_button(client, creator):
    client.post("/studio/new/", editor_data())
    html = client.get("/studio/haiku-maker/").content.decode()
    assert 'name="mode" value="test"' in html and ">Test</button>" in html


@pytest.mark.parametrize(
    "overrides",
    [
        {"name": "Haiku\r\nBcc: everyone@example.com"},
        {"name": "Haiku\x1b[31m"},
        {"name": "Haiku\u2028Bcc: everyone@example.com"},
        {"description": "Two\u2029paragraphs."},
        {"description": "Three lines\nabout anything."},
        {"fields-0-label": "Sub\nject"},
        {"fields-0-help_text": "One\rword"},
        {"fields-1-choices": "calm\nstor\x07my"},
    ],
)
def test_control_characters_in_names_and_single_line_fields_are_refused(client, creator, overrides):
    response = client.post("/studio/new/", editor_data(**overrides))
    assert response.status_code == 200
    assert "control characters" in response.content.decode()
    assert not Pickaxe.objects.exists()


def test_control_characters_in_a_short_text_input_are_refused_before_any_charge(client, creator, fake_openai):
    from credits import selectors as credits
    from tests.pickaxes.conftest import post_run

    pickaxe = PickaxeFactory()
    response = post_run(client, pickaxe, topic="the sea\r\nand more")
    assert response.status_code == 400 and "control characters" in response.content.decode()
    assert credits.balance(creator) == 25 and not fake_openai.requests


def test_an_empty_field_key_is_made_from_the_label(client, creator):
    data = editor_data(
        **{
            "fields-0-label": "Your subject",
            "fields-0-key": "",
            "fields-1-label": "2nd mood?",
            "fields-1-key": "",
            "prompt_template": "A haiku about {{your_subject}} in a {{field_2nd_mood}} mood.",
        }
    )
    response = client.post("/studio/new/", data)
    assert response.status_code == 302
    keys = [field.key for field in Pickaxe.objects.get(slug="haiku-maker").fields.all()]
    assert keys == ["your_subject", "field_2nd_mood"]


def test_a_field_key_typed_by_hand_is_kept(client, creator):
    client.post("/studio/new/", editor_data(**{"fields-0-label": "Your subject"}))
    assert Pickaxe.objects.get(slug="haiku-maker").fields.first().key == "subject"


def test_a_label_with_no_letters_and_no_key_asks_for_a_key(client, creator):
    response = client.post("/studio/new/", editor_data(**{"fields-0-label": "???", "fields-0-key": ""}))
    assert response.status_code == 200
    assert "Give the field a key" in response.content.decode()
    assert not Pickaxe.objects.exists()


def test_the_new_pickaxe_page_is_centred_like_the_rest(client, creator):
    html = client.get("/studio/new/").content.decode()
    assert 'class="container"' in html and 'class="studio-layout single"' in html
