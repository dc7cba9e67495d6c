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
