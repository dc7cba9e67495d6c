"""The per-address embed limit counts clients: behind a trusted proxy the client named in
X-Forwarded-For (as uvicorn sets it under FORWARDED_ALLOW_IPS), and an IPv6 client by its /64."""

import asyncio
from urllib.parse import urlencode

from asgiref.sync import async_to_sync
from django.core import signals
from django.core.asgi import get_asgi_application
from django.db import close_old_connections
from django.test import Client
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from pickaxes.models import Run
from tests.embeds.conftest import embed_form

PROXY = "10.0.0.5"
RAN = "Hello from the fake model"


def post_through(app, path, data, *, peer, cookie, forwarded_for=None):
    """POST `data` to the ASGI `app` as a connection from `peer` would; returns the body."""
    headers = [
        (b"host", b"testserver"),
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"cookie", cookie.encode()),
    ]
    if forwarded_for:
        headers.append((b"x-forwarded-for", forwarded_for.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": (peer, 40000),
        "server": ("testserver", 80),
    }

    async def exchange():
        body, sent, stay_open = urlencode(data).encode(), [], asyncio.Event()
        pending = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive():
            if pending:
                return pending.pop()
            await stay_open.wait()

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        return b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")

    # As Django's test client does: the test's transaction keeps the connection open.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        return async_to_sync(exchange)().decode()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def run_as(app, embed, *, peer, forwarded_for=None):
    """One new visitor (a new cookie) runs the embed once."""
    browser = Client()
    _, fields = embed_form(browser, embed)
    cookie = f"pkx_visitor={browser.cookies['pkx_visitor'].value}"
    return post_through(
        app, f"/e/{embed.token}/run/", {"topic": "x", **fields}, peer=peer, cookie=cookie, forwarded_for=forwarded_for
    )


def test_client_addresses_behind_a_trusted_proxy_the_per_address_limit_counts_each_client(embed, fake_openai):
    embed.runs_per_ip_per_day = 1
    embed.save()
    app = ProxyHeadersMiddleware(get_asgi_application(), trusted_hosts=PROXY)  # FORWARDED_ALLOW_IPS=10.0.0.5
    assert RAN in run_as(app, embed, peer=PROXY, forwarded_for="203.0.113.7")
    assert RAN in run_as(app, embed, peer=PROXY, forwarded_for="198.51.100.9")  # another client, same proxy
    assert "reached the limit" in run_as(app, embed, peer=PROXY, forwarded_for="203.0.113.7")
    assert Run.objects.count() == 2


def test_client_addresses_an_untrusted_peer_cannot_escape_the_limit_by_naming_another_client(embed, fake_openai):
    embed.runs_per_ip_per_day = 1
    embed.save()
    app = ProxyHeadersMiddleware(get_asgi_application(), trusted_hosts=PROXY)
    assert RAN in run_as(app, embed, peer="192.0.2.44", forwarded_for="203.0.113.7")
    assert "reached the limit" in run_as(app, embed, peer="192.0.2.44", forwarded_for="198.51.100.9")


def test_client_addresses_an_ipv6_client_is_counted_by_its_64_whatever_address_it_picks(embed, fake_openai):
    embed.runs_per_ip_per_day = 1
    embed.save()
    app = get_asgi_application()
    assert RAN in run_as(app, embed, peer="2001:db8:1:2::1")
    assert "reached the limit" in run_as(app, embed, peer="2001:db8:1:2:ffff::99")
    assert RAN in run_as(app, embed, peer="2001:db8:1:3::1")  # another /64, another client
