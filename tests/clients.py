"""Test clients that behave as browsers do where Django's test client does not."""

from asgiref.sync import async_to_sync
from django.http import HttpResponse
from django.test import AsyncClient


def post_without_javascript(client, path, data, **extra):
    """POST as a browser without JavaScript does, with `client`'s cookies, and read the
    answer whole. A run's page is sent when the run ends, from the same event loop that
    ran the view (as under the server), so the exchange runs on one loop here too."""
    headers = {name[5:].replace("_", "-").lower(): value for name, value in extra.items() if name.startswith("HTTP_")}

    async def post():
        browser = AsyncClient()
        browser.cookies = client.cookies
        response = await browser.post(path, data, headers=headers)
        if not response.streaming:
            return response
        body = b"".join([chunk async for chunk in response.streaming_content])
        return HttpResponse(body, status=response.status_code, headers=dict(response.items()))

    return async_to_sync(post)()
