"""A browser that leaves in the middle of a run: the run still completes and is recorded.

Plain HTTP over a socket against the ASGI server (no Chromium needed to hang up), so the
request can be cut at a chosen moment. running.py: "a browser that goes away mid-stream
does not stop the run from being recorded (and charged, once output has started)".
"""

import secrets
import socket
import time
from urllib.parse import urlencode

import pytest
from django.test import Client

from pickaxes.models import Run
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WORDS = 20
CHUNK_DELAY = 0.1


def post_then_hang_up(server, path, *, session_id, fields, accept, when):
    """POST a run form as a signed-in browser would, then close the socket once `when()`."""
    csrf = secrets.token_hex(16)  # an unmasked 32-character token, as cookie and field
    body = urlencode({"csrfmiddlewaretoken": csrf, **fields}).encode()
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        f"Origin: {server.url}\r\n"
        f"Cookie: sessionid={session_id}; csrftoken={csrf}\r\n"
        f"Accept: {accept}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head.encode() + body)
        wait_for(when)


def wait_for(condition, timeout=10.0):
    give_up_at = time.monotonic() + timeout
    while time.monotonic() < give_up_at:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {condition.__doc__}")


def output_started():
    """the model's first output"""
    return Run.objects.filter(first_output_at__isnull=False).exists()


def run_ended():
    """the run to end"""
    return Run.objects.exclude(status=Run.Status.RUNNING).first()


@pytest.mark.parametrize("accept", ["text/event-stream", "text/html"], ids=["streamed", "no-javascript"])
def test_a_run_completes_and_is_charged_when_the_browser_leaves_mid_run(asgi_live_server, fake_openai, pickaxe, accept):
    fake_openai.reply = " ".join(f"word{n}" for n in range(WORDS))
    fake_openai.chunk_delay = CHUNK_DELAY
    client = Client()
    client.force_login(UserFactory())

    post_then_hang_up(
        asgi_live_server,
        f"/p/{pickaxe.slug}/run/",
        session_id=client.cookies["sessionid"].value,
        fields={"topic": "the sea", "tone": "Serious", "details": "", "submission_key": secrets.token_urlsafe(24)},
        accept=accept,
        when=output_started,  # some output written, most still to come
    )

    run = wait_for(run_ended)
    assert (run.status, run.error, run.refunded) == (Run.Status.SUCCEEDED, "", False)
    assert run.output == fake_openai.reply
