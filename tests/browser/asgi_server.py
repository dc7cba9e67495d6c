"""The project's ASGI app served by uvicorn in a background thread, for browser tests.

pytest-django's `live_server` is Django's threaded WSGI server, and the WSGI handler
collects an async streaming response whole before sending it, so a run's output can only
be seen streaming when the ASGI app serves the page (as gunicorn's uvicorn workers do in
production). `AsgiLiveServer` runs the project's `config.asgi.get_asgi_application()` (with static files
from the apps, as `make run` serves them, unless `static_files=False`) under uvicorn, on its own event
loop in a thread of its own.

Databases: the test's data must be committed to be seen by the server's threads, so use
it with `transactional_db`. On PostgreSQL (or a file-backed SQLite test database) each
server thread opens its own connection to the test database. SQLite's in-memory test
database cannot be opened again from another thread reliably (a second shared-cache
connection fails with "database table is locked" instead of waiting), so, as Django's
`LiveServerThread` and pytest-django's `live_server` do with `connections_override`, every
server thread is handed the test thread's own connection, made shareable between threads
for the server's lifetime. Django's threads are one per request; under ASGI they are the
per-request executors of `sync_to_async`, created on demand, so the connection is handed
out where `connections[alias]` creates one rather than set in each thread beforehand.
"""

import asyncio
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import uvicorn
from asgiref.sync import SyncToAsync
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SynchronousOnlyOperation
from django.db import connections
from django.db.backends.signals import connection_created
from django.test.utils import modify_settings

from config.asgi import get_asgi_application


def shared_in_memory_connections():
    """The test thread's in-memory SQLite connections, by alias (what Django shares)."""
    return {conn.alias: conn for conn in connections.all() if conn.vendor == "sqlite" and conn.is_in_memory_db()}


class _SharedConnections:
    """While active, any thread that asks for `alias` gets the test thread's connection."""

    def __init__(self, overrides):
        self.overrides = overrides
        self._original = None

    def __enter__(self):
        if not self.overrides:
            return self
        for conn in self.overrides.values():
            conn.inc_thread_sharing()
        original = self._original = connections.create_connection

        def create_connection(alias):
            shared = self.overrides.get(alias)
            return shared if shared is not None else original(alias)

        connections.create_connection = create_connection  # an instance attribute; removed on exit
        return self

    def __exit__(self, *exc):
        if not self.overrides:
            return
        del connections.create_connection
        for conn in self.overrides.values():
            conn.dec_thread_sharing()


class _NoQueriesOnTheLoop:
    """Django's guard against blocking ORM calls in async code, for the server thread.

    The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for the test thread (Playwright's
    event loop runs there), which switches Django's guard off for the whole process; a
    view that queried the database straight from async code would then pass here and fail
    in production. This puts the check back for the server's event-loop thread only.
    """

    def __init__(self):
        self.thread = None
        self.offences = []
        self._wrapped = []

    def __call__(self, execute, sql, params, many, context):
        if threading.current_thread() is self.thread:
            self.offences.append(sql)
            raise SynchronousOnlyOperation(
                f"A database query ran on the ASGI server's event loop; use sync_to_async. Query: {sql[:200]}"
            )
        return execute(sql, params, many, context)

    def watch(self, conn):
        if self not in conn.execute_wrappers:
            conn.execute_wrappers.append(self)
            self._wrapped.append(conn)

    def _on_connection_created(self, sender, connection, **kwargs):
        self.watch(connection)

    def __enter__(self):
        for conn in connections.all():
            self.watch(conn)  # the shared SQLite connection, and the test thread's
        connection_created.connect(self._on_connection_created)
        return self

    def __exit__(self, *exc):
        connection_created.disconnect(self._on_connection_created)
        for conn in self._wrapped:
            if self in conn.execute_wrappers:
                conn.execute_wrappers.remove(self)
        self._wrapped.clear()


class AsgiLiveServer:
    """`start()` / `stop()`; `url` is `http://127.0.0.1:<port>`."""

    def __init__(self, host="127.0.0.1", *, static_files=True, startup_timeout=10.0, shutdown_timeout=5.0):
        self.host = host
        self.static_files = static_files  # False: only what the app serves (whitenoise with DEBUG off)
        self.app = None  # the LentThreadsASGIHandler, once started
        self.port = None
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self.error = None
        self._server = None
        self._thread = None
        self._socket = None
        self._active = False
        self._shared = _SharedConnections(shared_in_memory_connections())
        self.loop_guard = _NoQueriesOnTheLoop()
        self._allowed_hosts = modify_settings(ALLOWED_HOSTS={"append": host})

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def __str__(self):
        return self.url

    def __repr__(self):
        return f"<AsgiLiveServer {self.url}>"

    def start(self):
        # A socket bound here, handed to uvicorn: the port is known and cannot be taken
        # by someone else between choosing it and listening on it.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind((self.host, 0))
        self.port = self._socket.getsockname()[1]

        self.app = get_asgi_application()  # the project's handler, as in production
        app = ASGIStaticFilesHandler(self.app) if self.static_files else self.app
        config = uvicorn.Config(
            app,
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="off",
            # Open streams are cut after this at shutdown, so a test never hangs on one.
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        # asgiref's shared sync thread (used by a run's database steps, which have no
        # request executor) outlives one server: give each server a fresh one, so no
        # thread keeps a connection object from an earlier test.
        self._previous_executor = SyncToAsync.single_thread_executor
        SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asgi-sync")
        self._allowed_hosts.enable()
        self._shared.__enter__()
        self.loop_guard.__enter__()
        self._active = True
        self._thread = threading.Thread(target=self._serve, name="asgi-live-server", daemon=True)
        self.loop_guard.thread = self._thread
        self._thread.start()
        try:
            self._wait_until_started()
        except BaseException:
            self.stop()
            raise
        return self

    def _serve(self):
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._server.serve(sockets=[self._socket]))
        except BaseException as error:  # noqa: BLE001 (reported to the test thread)
            self.error = error
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def _wait_until_started(self):
        give_up_at = time.monotonic() + self.startup_timeout
        while not self._server.started:
            if self.error is not None or not self._thread.is_alive():
                raise RuntimeError(f"The ASGI test server did not start: {self.error!r}")
            if time.monotonic() > give_up_at:
                raise RuntimeError(f"The ASGI test server did not start in {self.startup_timeout} s")
            time.sleep(0.01)

    def stop(self):
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(self.shutdown_timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(self.shutdown_timeout)
        if self._socket is not None:
            self._socket.close()
        if self._active:
            self._active = False
            SyncToAsync.single_thread_executor.shutdown(wait=True)
            SyncToAsync.single_thread_executor = self._previous_executor
            self.loop_guard.__exit__(None, None, None)
            self._shared.__exit__(None, None, None)
            self._allowed_hosts.disable()
        self._thread = None
        self._server = None
        self._socket = None
