"""The Django floor of bench/run_path.py and bench/burst.py: the baseline's work, served by the project's Django.

    gunicorn -c gunicorn.conf.py --pythonpath bench django_floor:application

The project's ASGI application (`config.asgi`: its handler, settings and middleware:
sessions, CSRF, authentication, ...) with a URL conf of its own (django_floor_settings)
holding one run view that does only what bench/baseline_asgi.py does: it finds the
logged-in user (the session, then the user row: the one query) and reads the same fake
model's answer through the same code as the baseline. It sends what arrived as the
project does, at most every RUN_PROGRESS_EVERY_SECONDS, so an answer that comes at once
is one `end` event (the baseline sends a `delta` per chunk). No form, no credits, no Run
row, no Markdown.

What it measures: what Django's request cycle and the project's middleware cost per run
before any of the project's own work. A project run does all of this and more, so the
floor's runs/s against the baseline's bounds what the project can reach on this machine.
"""

import asyncio
import os

os.environ["DJANGO_SETTINGS_MODULE"] = "django_floor_settings"

import httpx2  # noqa: E402
from baseline_asgi import end_event, model_text, new_http_client, sse_event  # noqa: E402  (bench/)
from django.conf import settings  # noqa: E402
from django.http import StreamingHttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.http import require_POST  # noqa: E402

from config import views as config_views  # noqa: E402
from config.asgi import application  # noqa: E402, F401  (what gunicorn serves)

_client = []  # the HTTP client, made on the worker's event loop on first use


@require_POST
def run(request, slug):
    """POST /p/<slug>/run/: the session and the user as the project's run view finds
    them, then the model's answer as server-sent events."""
    events = _answer(len(request.body)) if request.user.is_authenticated else _logged_out()
    return StreamingHttpResponse(events, content_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def _logged_out():
    yield end_event(False, message="Log in to run this pickaxe.")


async def _answer(form_size):
    """As the project's stream: what arrived is sent at most every
    RUN_PROGRESS_EVERY_SECONDS (as plain text, not rendered), the whole answer with `end`;
    an answer that comes at once is one `end` event."""
    if not _client:
        _client.append(new_http_client())
    loop = asyncio.get_running_loop()
    parts, pending, sent_at = [], [], loop.time()
    try:
        async for text in model_text(_client[0], form_size):
            parts.append(text)
            pending.append(text)
            if loop.time() - sent_at >= settings.RUN_PROGRESS_EVERY_SECONDS:
                yield sse_event("delta", {"text": "".join(pending)})
                pending.clear()
                sent_at = loop.time()
    except (httpx2.HTTPError, ValueError) as err:
        yield end_event(False, "".join(parts), str(err)[:200])
        return
    yield end_event(True, "".join(parts))


urlpatterns = [
    path("healthz", config_views.healthz),
    path("p/<slug:slug>/run/", run),
]
