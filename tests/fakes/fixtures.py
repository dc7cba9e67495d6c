"""Pytest fixtures for the fake external services in `tests/fakes/`."""

import pytest

from tests.fakes.openai_server import FakeOpenAIServer


@pytest.fixture
def fake_openai(settings):
    """A running fake OpenAI server that the settings point at, with a platform key set."""
    server = FakeOpenAIServer().start()
    settings.OPENAI_API_KEY = "sk-test-platform"
    settings.OPENAI_BASE_URL = server.url + "/v1"
    yield server
    server.stop()
