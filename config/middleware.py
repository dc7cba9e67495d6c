"""Project-wide middleware.

Every middleware here is sync: production's ASGI handler (config.asgi) runs the whole
chain in one sync thread, as WSGI does, so an async path of a middleware would never run
there. MiddlewareMixin still lets Django run them in an async chain (its test AsyncClient).
"""

from django.conf import settings
from django.http import Http404, HttpResponseBadRequest
from django.urls import Resolver404, resolve
from django.utils.deprecation import MiddlewareMixin
from django.views.defaults import page_not_found


class RefuseNulBytesMiddleware(MiddlewareMixin):
    """Answer 400 to a request whose address, query, form data or cookies hold a NUL byte.

    No page of ours takes one, and PostgreSQL refuses NUL in text: without this a query
    such as `?q=%00` would fail deep in the database with a 500.
    """

    def process_request(self, request):
        if _has_nul(request):
            return HttpResponseBadRequest("The request contains a NUL character.", content_type="text/plain")
        return None


def _has_nul(request):
    if "\x00" in request.path:
        return True
    parts = [request.GET, request.COOKIES]
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        parts.append(request.POST)
    for part in parts:
        items = part.lists() if hasattr(part, "lists") else ((key, [value]) for key, value in part.items())
        for key, values in items:
            if "\x00" in key or any("\x00" in value for value in values if isinstance(value, str)):
                return True
    return False


class NotFoundPageMiddleware(MiddlewareMixin):
    """With DEBUG on, a missing page is still the site's 404 page.

    Django answers a 404 under DEBUG with its technical page, which lists every URL
    pattern, and ignores handler404 then. This middleware (installed only with DEBUG on)
    answers first: an address no pattern matches, and an Http404 a view raises, get
    404.html as in production. It sits below CommonMiddleware, which still redirects
    "/account" to "/account/" on seeing the 404.
    """

    def process_request(self, request):
        if _matches_nothing(request):
            return page_not_found(request, Http404())
        return None

    def process_exception(self, request, exception):
        if isinstance(exception, Http404) and settings.DEBUG:
            return page_not_found(request, exception)
        return None


def _matches_nothing(request):
    if not settings.DEBUG:  # (tests turn DEBUG off and on at run time)
        return False
    try:
        resolve(request.path_info, getattr(request, "urlconf", None))
    except Resolver404:
        return True
    return False
