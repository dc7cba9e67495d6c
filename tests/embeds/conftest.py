import re

import pytest

from embeds.services import embed_for
from tests.clients import post_without_javascript


@pytest.fixture
def embed(pickaxe):
    return embed_for(pickaxe)


def embed_form(client, embed, **headers):
    """Open the embed as a browser in an iframe would; returns (response, hidden fields)."""
    response = client.get(f"/e/{embed.token}/", **headers)
    # The visitor cookie is a hand-written Set-Cookie header (for `Partitioned`), which
    # Django's test client does not read: keep it as a browser would.
    cookie = response.headers.get("Set-Cookie", "")
    if cookie.startswith("pkx_visitor="):
        client.cookies["pkx_visitor"] = cookie.split(";", 1)[0].split("=", 1)[1]
    html = response.content.decode()
    fields = dict(re.findall(r'name="(embed_token|submission_key)" value="([^"]*)"', html))
    return response, fields


def run_embed(client, embed, *, topic="the sea", fields=None, **headers):
    if fields is None:
        _, fields = embed_form(client, embed)
    return post_without_javascript(client, f"/e/{embed.token}/run/", {"topic": topic, **fields}, **headers)


@pytest.fixture
def api_server(transactional_db):
    """The project's ASGI app under uvicorn (as in production), for the API over real HTTP."""
    from tests.browser.asgi_server import AsgiLiveServer

    server = AsgiLiveServer().start()
    yield server
    server.stop()
    assert not server.loop_guard.offences, f"database queries ran on the ASGI event loop: {server.loop_guard.offences}"


@pytest.fixture
def api_key(pickaxe):
    """A key of the pickaxe's owner (25 credits, the Free allowance), with its secret."""
    from embeds.services import create_api_key

    return create_api_key(owner=pickaxe.owner, name="my backend")


def call(server, method, path, secret=None, **kwargs):
    """One call of the API over HTTP, as any program would make it."""
    import httpx2 as httpx

    headers = kwargs.pop("headers", {})
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    return httpx.request(method, f"{server.url}{path}", headers=headers, timeout=30, **kwargs)
