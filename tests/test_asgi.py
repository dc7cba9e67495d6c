"""Production's ASGI app (config.asgi.LentThreadsASGIHandler, which goes around Django's
documented handler for speed) served by uvicorn over real HTTP: it serves the site's pages,
whitenoise serves static files with DEBUG off, and a request holds a sync thread only while
its response is built, not while the body streams."""

import asyncio
import json
import threading
from pathlib import Path

import httpx2 as httpx
import pytest
from django.core.management import call_command
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path

from config.asgi import LentThreadsASGIHandler
from tests.browser.asgi_server import AsgiLiveServer
from tests.pickaxes.factories import PickaxeFactory
from tests.test_settings import DEPLOY, manage

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def serve():
    """Start the project's ASGI app under uvicorn (after the test's settings); stopped after."""
    servers = []

    def start(**options):
        server = AsgiLiveServer(**options).start()
        servers.append(server)
        assert isinstance(server.app, LentThreadsASGIHandler)
        return server

    yield start
    for server in servers:
        server.stop()
        assert not server.loop_guard.offences, server.loop_guard.offences


def test_the_asgi_app_serves_the_sites_pages(transactional_db, serve):
    pickaxe = PickaxeFactory(name="Haiku maker")
    server = serve(static_files=False)
    home = httpx.get(f"{server.url}/", timeout=10)
    assert home.status_code == 200 and "Haiku maker" in home.text
    page = httpx.get(f"{server.url}/p/{pickaxe.slug}/", timeout=10)
    assert page.status_code == 200 and 'name="topic"' in page.text
    assert httpx.get(f"{server.url}/no-such-page/", timeout=10).status_code == 404


def production_middleware():
    """settings.MIDDLEWARE as a process with DEBUG off builds it."""
    code = "import json; from django.conf import settings; print(json.dumps(settings.MIDDLEWARE))"
    done = manage("shell", "-c", code, **DEPLOY)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# whitenoise answers with a file's sync iterator, which Django's ASGI handler reads in a
# thread, and says so once (static files are small; gunicorn's own is no different).
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
def test_with_debug_off_whitenoise_serves_the_collected_static_files(transactional_db, serve, settings, tmp_path):
    settings.DEBUG = False
    settings.MIDDLEWARE = production_middleware()
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE
    settings.STATIC_ROOT = tmp_path / "staticfiles"
    call_command("collectstatic", interactive=False, verbosity=0)  # the release's build step
    server = serve(static_files=False)  # nothing in front of the app serves static files
    response = httpx.get(f"{server.url}/static/css/site.css", timeout=10)
    assert response.status_code == 200, response.text
    assert response.content == (ROOT / "static/css/site.css").read_bytes()
    assert response.headers["content-type"].startswith("text/css")
    assert "max-age" in response.headers["cache-control"]  # whitenoise's, not Django's
    assert httpx.get(f"{server.url}/static/css/no-such.css", timeout=10).status_code == 404


# A URL conf for the next test: a body that streams until the test releases it, and a
# page; each view notes the thread it ran in.
RELEASE = threading.Event()
RAN_IN = []


def streaming(request):
    RAN_IN.append(threading.current_thread().name)

    async def body():
        yield b"first\n"
        while not RELEASE.is_set():
            await asyncio.sleep(0.01)
        yield b"last\n"

    return StreamingHttpResponse(body(), content_type="text/plain")


def page(request):
    RAN_IN.append(threading.current_thread().name)
    return HttpResponse("page\n", content_type="text/plain")


urlpatterns = [path("streaming/", streaming), path("page/", page)]


@pytest.mark.urls(__name__)
def test_a_request_holds_its_sync_thread_only_while_its_response_is_built(transactional_db, serve, settings):
    settings.ASGI_SYNC_THREADS = 1  # one thread to lend: a stream that kept it would stop every other request
    RELEASE.clear()
    RAN_IN.clear()
    server = serve(static_files=False)
    try:
        with httpx.stream("GET", f"{server.url}/streaming/", timeout=10) as stream:
            lines = stream.iter_lines()
            assert next(lines) == "first"  # the response is built; its body is streaming
            # While it streams, another request gets the one thread (it would wait for
            # the stream's end, and time out here, if the stream still held it).
            other = httpx.get(f"{server.url}/page/", timeout=5)
            assert other.status_code == 200 and other.text == "page\n"
            RELEASE.set()
            assert list(lines) == ["last"]
    finally:
        RELEASE.set()
    # Both views ran in the one lent thread, not the event loop's or a thread per request.
    assert len(RAN_IN) == 2 and len(set(RAN_IN)) == 1 and RAN_IN[0].startswith("django-sync")
