"""The bare ASGI baseline of bench/run_path.py: what the same server stack does with no Django.

    gunicorn -c gunicorn.conf.py --pythonpath bench baseline_asgi:app

Served exactly as the project is (gunicorn + uvicorn's worker class, the same settings
and WEB_CONCURRENCY). For each `POST .../run/` it:

1. reads the form body;
2. makes one PostgreSQL round trip: looks up the request's `sessionid` in `django_session`
   (psycopg async, a small per-process pool of autocommit connections, so no BEGIN or
   COMMIT round trips); an unknown session gets one `end` event with ok=false;
3. asks the same fake model for a streamed answer over HTTP (httpx2, which the openai SDK
   uses; one client per process with keep-alive, limits as the SDK's defaults), and sends
   each text chunk on at once as an SSE `delta` event shaped as the project's
   (`event: delta` / `data: {"text": ...}`), then an `end` event with the project's keys.

It reads the model's chunks rather than generating the same bytes so that it pays for
the same model round trip (connection, request, parsing 55 JSON events) the project pays
for, and so the fake's own CPU counts against both alike.

Environment: DATABASE_URL, OPENAI_BASE_URL (the fake's `.../v1`), OPENAI_API_KEY.
"""

import asyncio
import html
import json
import os

import httpx2
from psycopg_pool import AsyncConnectionPool

POOL_MAX = 10
MODEL = "gpt-4o-mini"

_ready = None
_pool = None
_client = None


async def _resources():
    """The pool and the HTTP client, made on the first request in the worker's event loop."""
    global _ready, _pool, _client
    if _ready is None:
        _ready = asyncio.get_running_loop().create_future()
        pool = AsyncConnectionPool(
            os.environ["DATABASE_URL"],
            min_size=1,
            max_size=POOL_MAX,
            timeout=30,
            kwargs={"autocommit": True},
            open=False,
        )
        await pool.open()
        _pool = pool
        _client = new_http_client()
        _ready.set_result(None)
    await _ready
    return _pool, _client


async def model_text(client, form_size):
    """The text chunks of the fake model's streamed answer, as they arrive (httpx2, the
    SDK's HTTP client, reading its SSE lines). Raises httpx2.HTTPError or ValueError."""
    request = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are a benchmark."},
            {"role": "user", "content": f"Write about {form_size} bytes of form."},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers = {"Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY', '')}"}
    url = os.environ["OPENAI_BASE_URL"].rstrip("/") + "/chat/completions"
    async with client.stream("POST", url, json=request, headers=headers) as response:
        if response.status_code != 200:
            raise ValueError(f"model answered HTTP {response.status_code}")
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            for choice in json.loads(line[6:]).get("choices") or ():
                text = (choice.get("delta") or {}).get("content")
                if text:
                    yield text


def new_http_client():
    """One per process and event loop, with keep-alive (limits as the SDK's defaults)."""
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(60.0, connect=5.0),
        limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=100),
    )


def sse_event(name, data):
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def end_event(ok, text="", message=""):
    return sse_event(
        "end",
        {
            "ok": ok,
            "html": f"<p>{html.escape(text)}</p>" if text else "",
            "message": message,
            "refunded": False,
            "balance": None,
            "demo": False,
            "billing_url": "",
        },
    )


def _session_key(scope):
    for name, value in scope["headers"]:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key == "sessionid":
                    return val
    return ""


async def _send_text(send, status, text, content_type=b"text/plain"):
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})
    await send({"type": "http.response.body", "body": text.encode()})


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if _pool is not None:
                await _pool.close()
            if _client is not None:
                await _client.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    if scope["type"] != "http":
        return
    if scope["path"] == "/healthz":
        return await _send_text(send, 200, "ok")
    if scope["method"] != "POST" or not scope["path"].endswith("/run/"):
        return await _send_text(send, 404, "Not found.")
    body = b""
    while True:  # the form (read, and ignored apart from its size)
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break

    pool, client = await _resources()
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT session_data FROM django_session WHERE session_key = %s", (_session_key(scope),)
        )
        session = await cursor.fetchone()

    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
        }
    )
    if session is None:
        return await send(
            {"type": "http.response.body", "body": end_event(False, message="Log in to run this pickaxe.")}
        )

    parts = []
    try:
        async for text in model_text(client, len(body)):
            parts.append(text)
            await send({"type": "http.response.body", "body": sse_event("delta", {"text": text}), "more_body": True})
    except (httpx2.HTTPError, ValueError) as err:
        return await send({"type": "http.response.body", "body": end_event(False, "".join(parts), str(err)[:200])})
    await send({"type": "http.response.body", "body": end_event(True, "".join(parts))})
