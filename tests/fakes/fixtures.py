"""Pytest fixtures for the fake external services in `tests/fakes/`."""

import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.smtp_server import SMTPSink


@pytest.fixture
def fake_openai(settings):
    """A running fake OpenAI server that the settings point at, with a platform key set."""
    server = FakeOpenAIServer().start()
    settings.OPENAI_API_KEY = "sk-test-platform"
    settings.OPENAI_BASE_URL = server.url + "/v1"
    yield server
    server.stop()


@pytest.fixture
def smtp_sink(settings):
    """A local SMTP server that the settings send mail to; it refuses connections until
    `smtp_sink.start()` (the mail server is down), and keeps what it accepts in `.messages`."""
    sink = SMTPSink()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": sink.port, "timeout": 5},
        }
    }
    yield sink
    sink.stop()
