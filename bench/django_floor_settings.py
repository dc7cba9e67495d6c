"""Settings of bench/django_floor.py: the project's settings, with one URL conf of its own."""

from config.settings import *  # noqa: F403  (the project's settings, unchanged)

ROOT_URLCONF = "django_floor"
