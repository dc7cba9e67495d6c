"""The offline demo model's answer through the API repeats no word of the pickaxe's
template or instructions (tests/pickaxes/test_demo_model_privacy.py: site and embed)."""

from embeds.services import create_api_key
from tests.embeds.conftest import call
from tests.pickaxes.factories import PickaxeFactory
from tests.pickaxes.test_demo_model_privacy import SYSTEM, TEMPLATE, assert_reveals_nothing


def test_the_demo_answer_in_the_api_repeats_no_word_of_the_prompt_or_instructions(api_server, settings):
    settings.OPENAI_API_KEY = ""
    settings.DEMO_MODEL_DELAY_SECONDS = 0
    pickaxe = PickaxeFactory(prompt_template=TEMPLATE, system_instructions=SYSTEM)
    secret = create_api_key(owner=pickaxe.owner, name="backend").secret
    body = {"inputs": {"topic": "the sea"}, "user": "u"}
    response = call(api_server, "POST", f"/api/v1/pickaxes/{pickaxe.slug}/runs", secret, json=body)
    assert response.status_code == 200, response.text
    assert_reveals_nothing(response.json()["output"])
