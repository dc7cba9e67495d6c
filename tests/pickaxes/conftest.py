import json
import re

from asgiref.sync import async_to_sync
from django.test import AsyncClient

from tests.clients import post_without_javascript


def submission_key(client, pickaxe):
    """The key the pickaxe page renders into its form, as a browser would post it."""
    html = client.get(f"/p/{pickaxe.slug}/").content.decode()
    return re.search(r'name="submission_key" value="([^"]+)"', html).group(1)


def post_run(client, pickaxe, *, key=None, **inputs):
    data = {"topic": "the sea", "submission_key": key or submission_key(client, pickaxe), **inputs}
    return post_without_javascript(client, f"/p/{pickaxe.slug}/run/", data)


def sse_events(body):
    """A streamed run's body as [(event name, data as JSON)], in order."""
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def post_run_streamed(user, pickaxe, data):
    """POST as the page's JavaScript does; returns (response, [(event, json)])."""

    async def go():
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.post(f"/p/{pickaxe.slug}/run/", data, headers={"accept": "text/event-stream"})
        body = b"".join([chunk async for chunk in response.streaming_content]).decode()
        return response, body

    response, body = async_to_sync(go)()
    return response, sse_events(body)
