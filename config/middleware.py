"""Project-wide middleware."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.http import Http404, HttpResponseBadRequest
from django.urls import Resolver404, resolve
from django.utils.deprecation import MiddlewareMixin
from django.views.defaults import page_not_found
from whitenoise.middleware import WhiteNoiseMiddleware


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise that also runs in an async chain.

    The stock middleware is sync-only, so under ASGI Django would run every view below
    it through async_to_sync, streaming runs included (a run's background task would
    then outlive the executor it was started from).
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response=None, **kwargs):
        super().__init__(get_response, **kwargs)
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self._is_async:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request):
        if self.autorefresh:
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return self.serve(static_file, request)
        return await self.get_response(request)


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


class NotFoundPageMiddleware:
    """With DEBUG on, a missing page is still the site's 404 page.

    Django answers a 404 under DEBUG with its technical page, which lists every URL
    pattern, and ignores handler404 then. This middleware (installed only with DEBUG on)
    answers first: an address no pattern matches, and an Http404 a view raises, get
    404.html as in production. It sits below CommonMiddleware, which still redirects
    "/account" to "/account/" on seeing the 404.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self._is_async:
            return self.__acall__(request)
        if _matches_nothing(request):
            return page_not_found(request, Http404())
        return self.get_response(request)

    async def __acall__(self, request):
        if _matches_nothing(request):
            return await sync_to_async(page_not_found)(request, Http404())
        return await self.get_response(request)

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
