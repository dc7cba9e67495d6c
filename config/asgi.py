"""The production entry point: gunicorn with uvicorn workers serves this ASGI app, so a
streaming run holds a coroutine, not a worker (see README: Serving)."""

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.db import connection

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class LentThreadsASGIHandler(ASGIHandler):
    """Django's ASGI handler, with its middleware run in one thread switch, and a sync
    thread lent to a request only while its response is built.

    Why it goes around Django's documented API: `django.core.asgi.get_asgi_application()`
    is the documented entry point, and it offers no setting for either change below, so
    this subclass leans on undocumented pieces of Django's handlers: it skips
    `ASGIHandler.__init__` (which builds the chain in async mode) to call
    `BaseHandler.load_middleware(is_async=False)`, wraps the `_middleware_chain` that
    builds, and overrides `__call__` and `run_get_response` (the per-request
    `ThreadSensitiveContext` moves from the first to the second, with a lent executor).
    What the documented way costs a site of streamed runs:

    - Django gives each request a sync thread (for middleware, sync views and the
      database) that lives until the whole response is sent. A streamed run is sent for
      seconds, so 1,000 open streams held 1,000 idle threads. Here a request borrows one
      of `threads` single-thread executors while the middleware and the view run, and
      gives it back before its body streams; a request that finds none free waits
      without a thread. What runs after that (Django's request signals, the run's own
      database steps, which pickaxes.running sends from a task of their own) uses
      asgiref's shared sync thread.
    - Under ASGI Django runs each sync-capable middleware's process_request and
      process_response through a thread switch of its own: with our ten, a request
      crossed between the event loop and a thread about 20 times. Here the chain is built
      in sync mode (as under WSGI) and entered once; an async view inside it (a run) is
      called back on the event loop by Django's own adapter, and its database steps come
      back to the same lent thread. So no middleware's async path runs here: the
      project's own middleware is sync only (config.middleware).

    tests/test_asgi.py checks the handler through a real server (uvicorn), in the ordinary
    suite: run it first when Django is upgraded, since these pieces may change without
    notice.
    """

    def __init__(self, *, threads):
        super(ASGIHandler, self).__init__()  # BaseHandler: the chain is loaded below
        self.load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(_then_give_back_connection(self._middleware_chain))
        self.threads = threads
        self._idle = None  # made on the serving event loop, on first use

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def run_get_response(self, request):
        if self._idle is None:
            self._idle = asyncio.LifoQueue()
            for _ in range(self.threads):
                self._idle.put_nowait(ThreadPoolExecutor(max_workers=1, thread_name_prefix="django-sync"))
        executor = await self._idle.get()
        try:
            async with ThreadSensitiveContext(executor=executor):
                return await super().run_get_response(request)
        finally:
            self._idle.put_nowait(executor)


def _then_give_back_connection(chain):
    """The response is built: the lent thread's database connection goes back to the pool
    now. Django closes connections in request_finished, which runs in asgiref's shared
    thread, not in the lent one; without this each lent thread kept a pool connection for
    good, and with as many threads as connections the run's own steps (in the shared
    thread) waited for one in vain."""

    def respond(request):
        try:
            return chain(request)
        finally:
            connection.close()

    return respond


def get_asgi_application():
    """As django.core.asgi.get_asgi_application, with the handler above."""
    django.setup(set_prefix=False)
    from django.conf import settings

    return LentThreadsASGIHandler(threads=settings.ASGI_SYNC_THREADS)


application = get_asgi_application()

from django.conf import settings  # noqa: E402  (after the app is set up)

if settings.DEBUG:
    # `make run` serves static files from the app folders, as runserver would.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    application = ASGIStaticFilesHandler(application)
