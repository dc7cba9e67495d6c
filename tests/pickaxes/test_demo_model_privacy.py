"""A pickaxe's prompt template and instructions are its creator's work: the offline demo
model's answer repeats neither, to a signed-in runner, an embed visitor or an API caller."""

import re

import pytest

from embeds.services import embed_for
from pickaxes.models import Run
from tests.embeds.conftest import run_embed
from tests.pickaxes.conftest import post_run
from tests.pickaxes.factories import PickaxeFactory

TEMPLATE = "Compose a melancholy sonnet concerning {{topic}} using strict iambic pentameter."
SYSTEM = "Speak like Captain Ahab aboard the Pequod, obsessed with whales."


@pytest.fixture
def secret_pickaxe(db, settings):
    settings.OPENAI_API_KEY = ""  # the offline demo model
    settings.DEMO_MODEL_DELAY_SECONDS = 0
    return PickaxeFactory(prompt_template=TEMPLATE, system_instructions=SYSTEM)


def hidden_words():
    """Every word of the template and the instructions a reader would recognise."""
    return {word.lower() for word in re.findall(r"[A-Za-z]{4,}", TEMPLATE + " " + SYSTEM)} - {"topic"}


def assert_reveals_nothing(text):
    seen = {word.lower() for word in re.findall(r"[A-Za-z]{4,}", text)}
    assert not seen & hidden_words(), f"the answer repeats {seen & hidden_words()}"
    assert "Demo answer" in text


def test_the_demo_answer_on_the_site_repeats_no_word_of_the_prompt_or_instructions(client, user, secret_pickaxe):
    client.force_login(user)
    page = post_run(client, secret_pickaxe, topic="the sea").content.decode()
    run = Run.objects.get()
    assert run.model == "demo" and run.status == "succeeded"
    assert_reveals_nothing(run.output)
    output = re.search(r'data-testid="run-output".*?</div>', page, re.S).group(0)
    assert_reveals_nothing(output)


def test_the_demo_answer_in_an_embed_repeats_no_word_of_the_prompt_or_instructions(client, secret_pickaxe):
    page = run_embed(client, embed_for(secret_pickaxe)).content.decode()
    run = Run.objects.get()
    assert run.source == "embed" and run.model == "demo"
    assert_reveals_nothing(run.output)
    output = re.search(r'data-testid="run-output".*?</div>', page, re.S).group(0)
    assert_reveals_nothing(output)
