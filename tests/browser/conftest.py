"""Playwright driving Debian's Chromium against a live server.

Two servers: pytest-django's `live_server` (Django's threaded WSGI server) and
`asgi_live_server`, the project's ASGI app under uvicorn as in production. Pages whose
responses stream (a run's output) need the ASGI one: the WSGI handler sends an async
streaming response only once it has ended.
"""

import os
from pathlib import Path

import pytest

from pickaxes.models import InputField, Pickaxe
from tests.browser.asgi_server import AsgiLiveServer
from tests.conftest import CHROMIUM
from tests.factories import UserFactory

# Playwright's sync API keeps an event loop in the test thread; the ORM calls the tests
# make around it are ordinary blocking calls, which Django would otherwise refuse there.
# (The ASGI server puts the check back for its own event loop: see asgi_server.py.)
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    # Module scope: Playwright's event loop is gone again before other tests run
    # (they use asyncio.run, which refuses to start inside a running loop).
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def asgi_live_server(transactional_db):
    """The project's ASGI app (with /static/) served by uvicorn on 127.0.0.1.

    The server's threads see what the test commits (hence `transactional_db`); on
    SQLite's in-memory test database they share the test thread's connection, as
    Django's own live server does. `.url` is the address to give the browser.
    """
    server = AsgiLiveServer().start()
    yield server
    server.stop()
    offences = server.loop_guard.offences
    assert not offences, f"database queries ran on the ASGI event loop: {offences}"


@pytest.fixture
def new_page(browser):
    """`new_page(server, **context_options)`: a page in a fresh browser context."""
    contexts = []

    def make(server, **options):
        context = browser.new_context(base_url=server.url, **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page, live_server):
    return new_page(live_server)


@pytest.fixture
def asgi_page(new_page, asgi_live_server):
    return new_page(asgi_live_server)


@pytest.fixture
def screenshot(request):
    """Save a screenshot under screenshots/ (for people to look at; not compared).

    `screenshot(name)` shoots the `page` fixture; `screenshot(name, some_page)` another.
    """

    def take(name, target=None, **options):
        SCREENSHOTS.mkdir(exist_ok=True)
        target = target or request.getfixturevalue("page")
        target.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True, **options)

    return take


@pytest.fixture
def pickaxe(db):
    """A public pickaxe owned by someone else, with a text, a choice and a long-text field."""
    pickaxe = Pickaxe.objects.create(
        owner=UserFactory(email="creator@example.com"),
        name="Haiku helper",
        slug="haiku-helper",
        description="Short poems about anything, in the tone you pick.",
        visibility=Pickaxe.Visibility.PUBLIC,
        system_instructions="You write short poems.",
        prompt_template="Write a poem about {{topic}} in a {{tone}} tone. {{details}}",
        model="gpt-4o-mini",
    )
    InputField.objects.create(
        pickaxe=pickaxe,
        position=0,
        label="Topic",
        key="topic",
        max_length=200,
        help_text="One or two words.",
    )
    InputField.objects.create(
        pickaxe=pickaxe,
        position=1,
        label="Tone",
        key="tone",
        kind=InputField.Kind.CHOICE,
        choices="Cheerful\nSerious\nPlayful",
    )
    InputField.objects.create(
        pickaxe=pickaxe,
        position=2,
        label="Details",
        key="details",
        kind=InputField.Kind.LONG_TEXT,
        required=False,
    )
    return pickaxe
