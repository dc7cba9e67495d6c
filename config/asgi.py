"""The production entry point: gunicorn with uvicorn workers serves this ASGI app, so a
streaming run holds a coroutine, not a worker (see README: Serving)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()

from django.conf import settings  # noqa: E402  (after the app is set up)

if settings.DEBUG:
    # `make run` serves static files from the app folders, as runserver would.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    application = ASGIStaticFilesHandler(application)
