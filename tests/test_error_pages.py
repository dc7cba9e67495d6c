"""Error pages are the site's pages (404, 403, 400, 500): its layout, plain words, no list
of URL patterns, with DEBUG off and, for a missing page, with DEBUG on too."""

import pytest
from django.contrib.staticfiles import finders
from django.test import Client, RequestFactory
from django.views.defaults import server_error

URL_LIST = ("Using the URLconf", "urlpatterns", "config.urls", "The current path")


@pytest.fixture
def debug_on(settings):
    """DEBUG on, as `make run` has it (settings install the middleware when DEBUG is on at
    start; the test client loads the middleware list at its first request)."""
    settings.DEBUG = True
    if "config.middleware.NotFoundPageMiddleware" not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, "config.middleware.NotFoundPageMiddleware"]


def assert_site_page(html, heading):
    assert 'data-testid="error-page"' in html and 'class="site-header"' in html and heading in html
    assert not any(leak in html for leak in URL_LIST)


@pytest.mark.parametrize("debug", [False, True])
def test_a_missing_address_is_the_site_404_page(client, db, request, debug):
    if debug:
        request.getfixturevalue("debug_on")
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert_site_page(response.content.decode(), "Page not found")


@pytest.mark.parametrize("debug", [False, True])
def test_a_view_that_finds_nothing_is_the_site_404_page(client, db, request, debug):
    if debug:
        request.getfixturevalue("debug_on")
    response = client.get("/p/no-such-pickaxe/")
    assert response.status_code == 404
    assert_site_page(response.content.decode(), "Page not found")


def test_with_debug_on_an_address_missing_its_slash_is_still_redirected(client, user, debug_on):
    client.force_login(user)
    response = client.get("/account")
    assert response.status_code == 301 and response["Location"] == "/account/"


def test_a_disallowed_host_is_the_site_400_page(client, db, settings):
    settings.DEBUG = False
    response = client.get("/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert_site_page(response.content.decode(), "That request could not be read")


def test_a_form_without_its_csrf_token_is_the_site_403_page(db, user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    response = browser.post("/studio/new/", {"name": "x"})
    assert response.status_code == 403
    assert_site_page(response.content.decode(), "This form has expired")


def test_the_500_page_is_the_sites_without_a_database_or_a_request_context(db):
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert_site_page(response.content.decode(), "Something went wrong on our side")


def test_every_page_links_the_favicon(client, db):
    html = client.get("/").content.decode()
    assert '<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">' in html
    icon = finders.find("img/favicon.svg")
    assert icon and open(icon).read().startswith("<svg")
