"""Every example of the API guide (/api/v1/docs/) runs as written: against the demo data for
everyone, against a creator's own pickaxes for that creator."""

import html
import json
import os
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from embeds.services import create_api_key
from pickaxes.models import InputField, Pickaxe
from tests.embeds.conftest import call
from tests.pickaxes.conftest import sse_events
from tests.pickaxes.factories import ChatPickaxeFactory, PickaxeFactory

EXAMPLE = re.compile(r'<pre class="code" data-testid="(\w+-example)">(.*?)</pre>', re.S)


def examples_on_the_docs_page(client, server):
    """Each example as (its testid, the URL it posts to, the JSON body it sends)."""
    page = client.get("/api/v1/docs/").content.decode()
    found = []
    for testid, text in EXAMPLE.findall(page):
        text = html.unescape(text).replace("http://testserver", server.url)
        url = re.search(r"https?://\S+/api/v1/pickaxes/[^/\s]+/runs", text)
        if url is None:
            continue
        body = re.search(r"-d '(.*)'", text, re.S) or re.search(r"^\s*json=(\{.*\}),$", text, re.M)
        found.append((testid, url.group(0), json.loads(body.group(1).replace("'\\''", "'"))))
    return found


def run_example(server, secret, url, body):
    import httpx2 as httpx

    return httpx.post(url, json=body, headers={"Authorization": f"Bearer {secret}"}, timeout=30)


def assert_runs(server, secret, url, body):
    response = run_example(server, secret, url, body)
    assert response.status_code == 200, (url, body, response.text)
    if body.get("stream"):
        name, end = sse_events(response.text)[-1]
        assert name == "end" and end["status"] == "succeeded", end
    else:
        assert response.json()["status"] == "succeeded"


@pytest.fixture
def demo_model(settings):
    settings.OPENAI_API_KEY = ""
    settings.DEMO_MODEL_DELAY_SECONDS = 0


def test_every_example_on_the_docs_page_runs_as_written_against_the_demo_data(api_server, demo_model):
    call_command("demo_data", stdout=StringIO())
    examples = examples_on_the_docs_page(Client(), api_server)
    testids = [testid for testid, _, _ in examples]
    assert {"curl-example", "python-example", "stream-example"} <= set(testids) and testids.count("run-example") == 2
    assert "/api/v1/pickaxes/SLUG/" not in Client().get("/api/v1/docs/").content.decode()
    caller = User.objects.create_user(email="caller@example.com", password="x")
    secret = create_api_key(owner=caller, name="docs").secret
    slugs = set()
    for _, url, body in examples:
        assert_runs(api_server, secret, url, body)
        slugs.add(url.rsplit("/", 2)[-2])
    assert slugs == {"cold-email-writer", "explain-like-im-new", "meeting-notes-to-actions"}


def test_a_signed_in_creator_sees_examples_of_their_own_pickaxes_that_run(api_server, demo_model):
    call_command("demo_data", stdout=StringIO())
    creator = User.objects.create_user(email="maker@example.com", password="x")
    pickaxe = PickaxeFactory(
        owner=creator,
        visibility=Pickaxe.Visibility.PRIVATE,
        with_topic_field=False,
        prompt_template="A {{mood}} story of {{pages}} pages about {{hero}}: {{notes}}",
    )
    InputField.objects.create(pickaxe=pickaxe, key="mood", label="Mood", kind="choice", choices="Don't panic\nCalm")
    InputField.objects.create(pickaxe=pickaxe, key="pages", label="Pages", kind="number", min_value=12, max_value=40)
    InputField.objects.create(pickaxe=pickaxe, key="hero", label="Hero", max_length=4)
    InputField.objects.create(pickaxe=pickaxe, key="notes", label="Notes", kind="long_text", required=False)
    client = Client()
    client.force_login(creator)
    examples = examples_on_the_docs_page(client, api_server)
    assert examples and all(url.endswith(f"/pickaxes/{pickaxe.slug}/runs") for _, url, _ in examples)
    inputs = examples[0][2]["inputs"]
    assert inputs == {"mood": "Don't panic", "pages": 12, "hero": "the ", "notes": "A few words about the sea."}
    secret = create_api_key(owner=creator, name="mine").secret
    for _, url, body in examples:
        assert_runs(api_server, secret, url, body)


def test_the_api_lists_the_demo_length_fields_bounds(api_server):
    call_command("demo_data", stdout=StringIO())
    caller = User.objects.create_user(email="caller@example.com", password="x")
    listed = call(api_server, "GET", "/api/v1/pickaxes", create_api_key(owner=caller, name="k").secret).json()
    explain = next(p for p in listed if p["slug"] == "explain-like-im-new")
    words = next(f for f in explain["fields"] if f["key"] == "words")
    assert (float(words["min_value"]), float(words["max_value"])) == (50, 600)


CHAT_EXAMPLE = re.compile(r'<pre class="code" data-testid="(chat-(?:shell|python)-example)">(.*?)</pre>', re.S)


def chat_examples_on_the_docs_page(client, server):
    """The chat examples as {testid: their text, to run against `server`}."""
    page = client.get("/api/v1/docs/").content.decode()
    return {
        testid: html.unescape(text).replace("http://testserver", server.url)
        for testid, text in CHAT_EXAMPLE.findall(page)
    }


def run_chat_examples(examples, secret, slug, monkeypatch):
    """Run the shell example with bash (curl and jq) and the Python one as a program would,
    then check what each made: two messages of one conversation, read back whole."""
    import subprocess
    import sys
    from contextlib import redirect_stdout

    import httpx2

    from pickaxes.models import Conversation

    assert set(examples) == {"chat-shell-example", "chat-python-example"}
    shell = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", examples["chat-shell-example"]],
        env={**os.environ, "PICKAXE_API_KEY": secret},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shell.returncode == 0, shell.stderr
    decoder, rest, documents = json.JSONDecoder(), shell.stdout.strip(), []
    while rest:
        document, end = decoder.raw_decode(rest)
        documents.append(document)
        rest = rest[end:].strip()
    second, history = documents
    assert second["status"] == "succeeded" and second["pickaxe"] == slug
    assert [m["role"] for m in history["messages"]] == ["user", "assistant", "user", "assistant"]
    assert history["id"] == second["conversation"]

    monkeypatch.setitem(sys.modules, "httpx", httpx2)  # the page says `import httpx`; httpx2 is its fork here
    monkeypatch.setenv("PICKAXE_API_KEY", secret)
    printed = StringIO()
    with redirect_stdout(printed):
        exec(compile(examples["chat-python-example"], "chat-python-example", "exec"), {"__name__": "__main__"})
    assert printed.getvalue().count("assistant") == 2
    assert Conversation.objects.filter(pickaxe__slug=slug).count() == 2


def test_the_chat_examples_on_the_docs_page_run_as_written_against_the_demo_data(api_server, demo_model, monkeypatch):
    call_command("demo_data", stdout=StringIO())
    examples = chat_examples_on_the_docs_page(Client(), api_server)
    assert "/study-buddy/runs" in examples["chat-shell-example"]
    caller = User.objects.create_user(email="caller@example.com", password="x")
    run_chat_examples(examples, create_api_key(owner=caller, name="docs").secret, "study-buddy", monkeypatch)


def test_a_signed_in_creator_sees_chat_examples_of_their_own_chat_pickaxe_that_run(api_server, demo_model, monkeypatch):
    creator = User.objects.create_user(email="maker@example.com", password="x")
    chat = ChatPickaxeFactory(owner=creator, visibility=Pickaxe.Visibility.PRIVATE)
    client = Client()
    client.force_login(creator)
    examples = chat_examples_on_the_docs_page(client, api_server)
    assert f"/{chat.slug}/runs" in examples["chat-python-example"]
    run_chat_examples(examples, create_api_key(owner=creator, name="mine").secret, chat.slug, monkeypatch)
