"""The embed in Chromium, across two sites.

The app is the ASGI server (`asgi_live_server`, uvicorn on 127.0.0.1:<port>), reached
for the embed as http://localhost:<port>. The host page, a stranger's website, is served
by a tiny stdlib HTTP server of its own on http://127.0.0.1:<other port>: localhost and
127.0.0.1 are different sites, so the iframe is a real third-party frame (its cookie is
partitioned under the host page's site, CSP frame-ancestors and X-Frame-Options apply).
The host page holds the snippet exactly as the owner's embed page shows it.

The pickaxe is `pickaxe` from conftest.py (Topic, Tone, Details), owned by
creator@example.com; the model is the fake OpenAI server (`fake_openai`).
"""

import html
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from django.test import Client
from playwright.sync_api import expect

from credits import selectors as credits
from embeds.models import Embed
from embeds.services import embed_for
from pickaxes.models import Run
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPLY = "Grey gulls over the harbour, salt on the wind, the tide comes in."
OUTPUT = "[data-testid=run-output]"
ERROR = "[data-testid=run-error]"
LIMIT = "You have reached the limit of this tool for now."
FRAME = "iframe[data-pickaxe-embed]"


class HostSite:
    """A stranger's website on http://127.0.0.1:<port>: `serve(path, body)` → its URL."""

    def __init__(self):
        self.pages = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def do_GET(self):
                body = site.pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="host-site", daemon=True)
        self._thread.start()

    def serve(self, path, body, *, head=""):
        self.pages[path] = (
            "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>The Gull Gazette</title>"
            f"{head}<style>body{{font-family:Georgia,serif;max-width:760px;margin:2rem auto;padding:0 1rem;"
            "background:#fbf7ef;color:#222}</style></head><body>"
            "<h1>The Gull Gazette</h1><p>Our readers asked for poems. Try the poem maker below.</p>"
            f"{body}<p>Thanks for reading — see you next week.</p></body></html>"
        )
        return self.url + path

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


@pytest.fixture
def app(settings, asgi_live_server):
    """The app server, with `embed_origin`: the same server as http://localhost:<port>."""
    if "localhost" not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    asgi_live_server.embed_origin = f"http://localhost:{asgi_live_server.port}"
    return asgi_live_server


@pytest.fixture
def host_site():
    site = HostSite()
    yield site
    site.stop()


@pytest.fixture
def embed(pickaxe):
    return embed_for(pickaxe)


def owner_snippet(app, pickaxe):
    """The snippet as the owner's embed page shows it, the page opened on http://localhost:<port>."""
    client = Client()
    client.force_login(pickaxe.owner)
    response = client.get(f"/studio/{pickaxe.slug}/embed/", HTTP_HOST=f"localhost:{app.port}")
    assert response.status_code == 200
    match = re.search(r'data-testid="embed-snippet">(.*?)</textarea>', response.content.decode(), re.S)
    snippet = html.unescape(match.group(1))
    assert f'src="{app.embed_origin}/e/' in snippet and f'e.origin!=="{app.embed_origin}"' in snippet
    return snippet


def visitor_on(new_page, app, url, **options):
    """A fresh browser context (no account, no cookies) on the host page."""
    page = new_page(app, **options)
    page.goto(url)
    return page


def run_in_frame(page, *, topic="the sea", tone="Serious"):
    frame = page.frame_locator(FRAME)
    frame.get_by_label("Topic").fill(topic)
    frame.get_by_label("Tone").select_option(tone)
    frame.get_by_role("button", name="Submit").click()
    expect(frame.locator(f"{OUTPUT}, {ERROR}").first).to_be_visible()
    expect(frame.get_by_role("button", name="Submit")).to_be_enabled()
    return frame


def embed_frame(page):
    """The embed's Frame object (not a locator): None until the iframe is attached."""
    for frame in page.frames:
        if frame.parent_frame is page.main_frame:
            return frame
    return None


def expect_frame_blocked(page, response):
    """The iframe shows Chromium's error page (framing refused), not the app's page."""
    page.wait_for_function(
        "() => { const f = document.querySelector('iframe'); return f && f.dataset.loaded === '1'; }"
    )
    frame = embed_frame(page)
    assert frame is not None
    for _ in range(100):  # the load event can come before Playwright learns the frame's URL
        if frame.url:
            break
        page.wait_for_timeout(50)
    assert frame.url.startswith("chrome-error://"), f"the frame rendered {frame.url} (HTTP {response.status})"
    expect(page.frame_locator("iframe").locator("form")).to_have_count(0)
    expect(page.frame_locator("iframe").locator("body")).not_to_contain_text("Haiku helper")
    expect(page.frame_locator("iframe").locator("body")).not_to_contain_text("not available")


# Marks the iframe when its load event fired (an error page fires it too).
MARK_LOAD = (
    "<script>document.addEventListener('load',function(e){if(e.target.tagName==='IFRAME')"
    "e.target.dataset.loaded='1'},true)</script>"
)


def test_a_visitor_without_an_account_runs_the_embed_on_another_site_and_the_owner_pays(
    app, host_site, new_page, fake_openai, pickaxe, embed, screenshot
):
    fake_openai.reply = REPLY
    owner = pickaxe.owner
    assert credits.balance(owner) == 25
    host_url = host_site.serve("/poems.html", owner_snippet(app, pickaxe))

    snippet = owner_snippet(app, pickaxe)
    assert "height:560px" in snippet  # the starting height
    host_url = host_site.serve("/poems.html", snippet)

    page = visitor_on(new_page, app, host_url)
    iframe = page.locator(FRAME)
    frame = page.frame_locator(FRAME)
    expect(frame.get_by_role("heading", name="Haiku helper")).to_be_visible()
    assert embed_frame(page).url == f"{app.embed_origin}/e/{embed.token}/"

    def sized_to_content():
        """The frame's content height (what static/js/embed.js reports: scrollHeight never
        drops below the frame's own height), once the iframe has that height. Read again
        until they agree: the content may still be laid out (fonts) when first read."""
        deadline = time.monotonic() + 5
        while True:
            height = embed_frame(page).evaluate("Math.ceil(document.body.getBoundingClientRect().height)")
            style = iframe.get_attribute("style") or ""
            if re.search(rf"height:\s*{height}px", style):
                return height
            assert time.monotonic() < deadline, f"iframe style {style!r}, content {height}px"
            page.wait_for_timeout(50)

    # The snippet's script sizes the iframe to the frame's content, from the first load...
    before = sized_to_content()
    assert before != 560

    run_in_frame(page, topic="the harbour")
    expect(frame.locator(OUTPUT)).to_have_text(REPLY)
    expect(frame.locator(ERROR)).to_have_count(0)

    # ...and again when the answer makes it longer.
    after = sized_to_content()
    assert after > before
    screenshot("embed-host-page-after-run", page)

    run = Run.objects.get()
    assert run.source == Run.Source.EMBED
    assert run.submitted_by is None and run.payer == owner
    assert run.embed_run.visitor_id and run.embed_run.visitor_ip
    assert run.status == Run.Status.SUCCEEDED and run.output == REPLY
    assert credits.balance(owner) == 24
    prompt = fake_openai.requests[0]["json"]["messages"][-1]["content"]
    assert prompt.startswith("Write a poem about the harbour in a Serious tone.")
    # The visitor's browser holds no session of the app: it is nobody's account.
    names = {cookie["name"] for cookie in page.context.cookies()}
    assert "sessionid" not in names


def test_the_per_visitor_limit_stops_the_next_run_and_the_visitor_is_kept_across_reloads(
    app, host_site, new_page, fake_openai, pickaxe, embed, screenshot
):
    embed.runs_per_visitor, embed.period = 2, Embed.Period.DAY
    embed.save()
    host_url = host_site.serve("/poems.html", owner_snippet(app, pickaxe))
    page = visitor_on(new_page, app, host_url)
    frame = page.frame_locator(FRAME)

    run_in_frame(page, topic="one")
    expect(frame.locator(OUTPUT)).to_contain_text("Hello from the fake model")

    # The visitor cookie (SameSite=None; Secure; Partitioned) on http://localhost is kept,
    # partitioned under the host page's site.
    cookies = [c for c in page.context.cookies() if c["name"] == "pkx_visitor"]
    assert len(cookies) == 1, page.context.cookies()
    cookie = cookies[0]
    assert cookie["domain"] == "localhost" and cookie["secure"] and cookie["sameSite"] == "None"
    assert cookie.get("partitionKey") == "http://127.0.0.1", cookie

    page.reload()
    run_in_frame(page, topic="two")
    expect(frame.locator(OUTPUT)).to_contain_text("Hello from the fake model")
    first, second = Run.objects.order_by("started_at")
    assert first.embed_run.visitor_id == second.embed_run.visitor_id == cookie["value"], "the reload made a new visitor"

    page.reload()
    run_in_frame(page, topic="three")
    expect(frame.locator(ERROR)).to_contain_text(LIMIT)
    expect(frame.locator(ERROR)).to_contain_text("You can run it again on")
    expect(frame.locator(OUTPUT)).to_have_count(0)
    screenshot("embed-limit-reached", page)

    assert Run.objects.count() == 2
    assert len(fake_openai.requests) == 2
    assert credits.balance(pickaxe.owner) == 23


def test_clearing_cookies_does_not_get_past_the_per_ip_backstop(app, host_site, new_page, fake_openai, pickaxe, embed):
    embed.runs_per_visitor, embed.runs_per_ip_per_day = 1, 2
    embed.save()
    host_url = host_site.serve("/poems.html", owner_snippet(app, pickaxe))
    page = visitor_on(new_page, app, host_url)
    frame = page.frame_locator(FRAME)

    run_in_frame(page, topic="one")
    expect(frame.locator(OUTPUT)).to_contain_text("Hello from the fake model")

    page.context.clear_cookies()
    page.reload()
    run_in_frame(page, topic="two")  # a new visitor id: allowed, the address has one run
    expect(frame.locator(OUTPUT)).to_contain_text("Hello from the fake model")

    page.context.clear_cookies()
    page.reload()
    run_in_frame(page, topic="three")  # yet another visitor id, but the address has had two
    expect(frame.locator(ERROR)).to_contain_text(LIMIT)

    runs = list(Run.objects.order_by("started_at"))
    assert len(runs) == 2
    assert runs[0].embed_run.visitor_id != runs[1].embed_run.visitor_id
    assert runs[0].embed_run.visitor_ip == runs[1].embed_run.visitor_ip
    assert credits.balance(pickaxe.owner) == 23


def test_a_host_page_on_a_domain_not_on_the_allow_list_does_not_show_the_embed(
    app, host_site, new_page, fake_openai, pickaxe, embed, screenshot
):
    snippet = owner_snippet(app, pickaxe)
    embed.allowed_domains = "example.com"
    embed.save()
    host_url = host_site.serve("/poems.html", snippet, head=MARK_LOAD)
    page = new_page(app)
    console = []
    page.on("console", lambda message: console.append(message.text))

    # The embed view sees the host page in the Referer and refuses; the refusal carries the
    # frame-ancestors of the allow-list, so Chromium does not even show it.
    with page.expect_response(lambda r: "/e/" in r.url) as info:
        page.goto(host_url)
    response = info.value
    assert response.status == 403
    assert "frame-ancestors 'self' example.com:* *.example.com:*" in response.headers["content-security-policy"]
    expect_frame_blocked(page, response)
    assert any("frame-ancestors" in text for text in console), console
    screenshot("embed-blocked-domain", page)

    # Without a Referer the view answers with the form, and frame-ancestors alone blocks it.
    no_referrer = '<meta name="referrer" content="no-referrer">' + MARK_LOAD
    no_referrer_url = host_site.serve("/quiet.html", snippet, head=no_referrer)
    with page.expect_response(lambda r: "/e/" in r.url) as info:
        page.goto(no_referrer_url)
    assert info.value.status == 200
    expect_frame_blocked(page, info.value)
    assert not Run.objects.exists() and not fake_openai.requests

    # On the allow-list, the same host page shows the form.
    embed.allowed_domains = "127.0.0.1"
    embed.save()
    page.goto(host_url)
    frame = page.frame_locator(FRAME)
    expect(frame.locator("form")).to_have_count(1)
    run_in_frame(page)
    expect(frame.locator(OUTPUT)).to_contain_text("Hello from the fake model")
    assert Run.objects.count() == 1


@pytest.mark.parametrize("path", ["/", "/p/haiku-helper/", "/accounts/login/"])
def test_site_pages_other_than_the_embed_refuse_to_be_framed(app, host_site, new_page, pickaxe, path):
    host_url = host_site.serve(
        "/framing.html",
        f'<iframe src="{app.embed_origin}{path}" style="width:100%;height:500px;border:0"></iframe>',
        head=MARK_LOAD,
    )
    page = new_page(app)
    console = []
    page.on("console", lambda message: console.append(message.text))
    with page.expect_response(lambda r: r.url == f"{app.embed_origin}{path}") as info:
        page.goto(host_url)
    response = info.value
    assert response.status == 200
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    expect_frame_blocked(page, response)
    assert any("frame-ancestors 'none'" in text for text in console), console


def test_the_owner_shares_the_snippet_and_a_new_address_makes_the_old_one_say_moved(
    app, host_site, new_page, fake_openai, pickaxe, embed, screenshot
):
    owner_page = new_page(SimpleNamespace(url=app.embed_origin))  # the app as http://localhost
    owner_page.goto("/accounts/login/")
    owner_page.get_by_label("Email").fill(pickaxe.owner.email)
    owner_page.get_by_label("Password").fill(PASSWORD)
    owner_page.get_by_role("button", name="Log in").click()
    owner_page.wait_for_url(re.compile(r"/account/$"))

    owner_page.goto(f"/studio/{pickaxe.slug}/embed/")
    expect(owner_page.get_by_role("heading", name="Embed “Haiku helper”")).to_be_visible()
    preview = owner_page.frame_locator("iframe.preview-frame")
    expect(preview.get_by_role("button", name="Submit")).to_be_visible()
    snippet = owner_page.get_by_test_id("embed-snippet").input_value()
    old_token = embed.token
    assert f'<iframe src="{app.embed_origin}/e/{old_token}/"' in snippet
    assert snippet == owner_snippet(app, pickaxe)
    screenshot("embed-settings", owner_page)
    owner_page.set_viewport_size({"width": 375, "height": 740})
    screenshot("embed-settings-mobile", owner_page)
    owner_page.set_viewport_size({"width": 1280, "height": 720})

    host_url = host_site.serve("/poems.html", snippet, head=MARK_LOAD)
    visitor = visitor_on(new_page, app, host_url)
    expect(visitor.frame_locator(FRAME).get_by_role("button", name="Submit")).to_be_visible()

    owner_page.get_by_role("link", name="Make a new address…").click()  # asked first
    owner_page.get_by_role("button", name="Make a new address").click()
    expect(owner_page.get_by_text("The old one has stopped working", exact=False)).to_be_visible()
    embed.refresh_from_db()
    assert embed.token != old_token
    new_snippet = owner_page.get_by_test_id("embed-snippet").input_value()
    assert f"/e/{embed.token}/" in new_snippet and old_token not in new_snippet

    # The old snippet says the tool has moved (tests/browser/test_embed_owner.py has more).
    with visitor.expect_response(lambda r: f"/e/{old_token}/" in r.url) as info:
        visitor.reload()
    assert info.value.status == 410
    expect(visitor.frame_locator(FRAME).get_by_test_id("embed-moved")).to_contain_text("This tool has moved.")
    assert not Run.objects.exists()

    # The new snippet works.
    visitor.goto(host_site.serve("/new.html", new_snippet))
    run_in_frame(visitor)
    expect(visitor.frame_locator(FRAME).locator(OUTPUT)).to_contain_text("Hello from the fake model")
    assert Run.objects.get().source == Run.Source.EMBED


def test_unpublished_pickaxe_the_open_embed_refuses_its_next_run_and_a_reload_shows_only_not_available(
    app, host_site, new_page, fake_openai, pickaxe, embed, screenshot
):
    host_url = host_site.serve("/poems.html", owner_snippet(app, pickaxe))
    page = visitor_on(new_page, app, host_url)
    frame = page.frame_locator(FRAME)
    expect(frame.get_by_role("heading", name="Haiku helper")).to_be_visible()

    pickaxe.visibility = "private"  # what staff "Unpublish" does
    pickaxe.save()
    run_in_frame(page)
    expect(frame.locator(ERROR)).to_contain_text("This tool is not available right now.")
    assert not Run.objects.exists() and not fake_openai.requests

    page.reload()
    expect(frame.get_by_test_id("embed-unavailable")).to_have_text("This tool is not available right now.")
    expect(frame.locator("body")).not_to_contain_text("Haiku helper")
    screenshot("embed-unpublished", page)
    assert credits.balance(pickaxe.owner) == 25
