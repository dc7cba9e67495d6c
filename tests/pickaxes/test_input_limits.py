"""Input size and number limits, enforced on the server before anything is charged."""

import pytest

from credits import selectors as credits
from pickaxes.models import InputField, Run
from tests.clients import post_without_javascript
from tests.embeds.conftest import embed_form
from tests.pickaxes.conftest import post_run
from tests.pickaxes.factories import PickaxeFactory


@pytest.fixture
def signed_in(client, make_user):
    user = make_user()
    client.force_login(user)
    return user


@pytest.fixture
def open_field_pickaxe(db):
    """A pickaxe whose two text fields set no length limit of their own."""
    pickaxe = PickaxeFactory(prompt_template="{{topic}} and {{notes}}", with_topic_field=False)
    InputField.objects.create(pickaxe=pickaxe, label="Topic", key="topic", position=0)
    InputField.objects.create(pickaxe=pickaxe, label="Notes", key="notes", kind="long_text", position=1)
    return pickaxe


def test_input_cap_a_field_with_no_limit_of_its_own_takes_at_most_the_site_cap(
    client, signed_in, open_field_pickaxe, fake_openai, settings
):
    settings.RUN_INPUT_MAX_CHARS = 8000
    response = post_run(client, open_field_pickaxe, topic="x" * 1_000_000, notes="short")
    assert response.status_code == 400 and "at most 8000 characters" in response.content.decode()
    assert not Run.objects.exists() and not fake_openai.requests and credits.balance(signed_in) == 25


def test_input_cap_the_rendered_prompt_is_capped_even_when_each_field_is_within_its_own(
    client, signed_in, open_field_pickaxe, fake_openai, settings
):
    settings.RUN_INPUT_MAX_CHARS, settings.RUN_PROMPT_MAX_CHARS = 8000, 8000
    response = post_run(client, open_field_pickaxe, topic="x" * 5000, notes="y" * 5000)
    assert response.status_code == 400 and "at most 8,000" in response.content.decode()
    assert not Run.objects.exists() and credits.balance(signed_in) == 25


def test_input_cap_an_embed_owner_pays_nothing_for_an_oversized_input(client, open_field_pickaxe, fake_openai):
    from embeds.services import embed_for

    embed = embed_for(open_field_pickaxe)
    _, fields = embed_form(client, embed)
    response = post_without_javascript(
        client, f"/e/{embed.token}/run/", {"topic": "x" * 1_000_000, "notes": "n", **fields}
    )
    assert response.status_code == 400
    assert not Run.objects.exists() and credits.balance(open_field_pickaxe.owner) == 25


def test_input_cap_inputs_within_the_caps_run(client, signed_in, open_field_pickaxe, fake_openai):
    response = post_run(client, open_field_pickaxe, topic="x" * 3000, notes="y" * 3000)
    assert "Hello from the fake model" in response.content.decode()


@pytest.fixture
def word_count_pickaxe(db):
    pickaxe = PickaxeFactory(prompt_template="Write {{words}} words.", with_topic_field=False)
    InputField.objects.create(
        pickaxe=pickaxe, label="Words", key="words", kind="number", min_value=50, max_value=600, position=0
    )
    return pickaxe


@pytest.mark.parametrize("words", ["5000", "49", "1" * 5000])
def test_number_limits_a_number_outside_the_fields_bounds_is_refused_uncharged(
    client, signed_in, word_count_pickaxe, fake_openai, words
):
    response = post_run(client, word_count_pickaxe, words=words)
    assert response.status_code == 400
    assert not Run.objects.exists() and not fake_openai.requests and credits.balance(signed_in) == 25


def test_number_limits_a_number_within_the_bounds_runs(client, signed_in, word_count_pickaxe, fake_openai):
    response = post_run(client, word_count_pickaxe, words="600")
    assert "Hello from the fake model" in response.content.decode() and credits.balance(signed_in) == 24


def test_number_limits_are_shown_in_the_form(client, word_count_pickaxe):
    html = client.get(f"/p/{word_count_pickaxe.slug}/").content.decode()
    assert 'min="50"' in html and 'max="600"' in html and "From 50 to 600." in html


def test_number_limits_are_set_in_the_studio_and_a_reversed_range_is_explained(client, signed_in):
    from tests.pickaxes.test_studio import editor_data

    data = editor_data(
        prompt_template="A haiku about {{subject}} with {{lines}} lines.",
        **{
            "fields-1-label": "Lines",
            "fields-1-key": "lines",
            "fields-1-kind": "number",
            "fields-1-choices": "",
            "fields-1-min_value": "5",
            "fields-1-max_value": "3",
        },
    )
    response = client.post("/studio/new/", data)
    assert "The largest number must not be below the smallest." in response.content.decode()
    data["fields-1-max_value"] = "12"
    assert client.post("/studio/new/", data).status_code == 302
    field = InputField.objects.get(key="lines")
    assert (field.min_value, field.max_value) == (5, 12)
