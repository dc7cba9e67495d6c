"""Checks every request passes before any view: bad bytes are a 400, never a 500."""

import pytest


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        ("get", "/?q=%00", None),
        ("get", "/e/%00/", None),
        ("post", "/e/%00/run/", {"topic": "x"}),
        ("post", "/e/abc/run/", {"topic": "a\x00b"}),
        ("get", "/billing/return/?session_id=%00", None),
        ("get", "/p/x%00y/", None),
    ],
)
def test_request_data_with_a_nul_byte_is_refused_with_400_never_500(client, db, method, url, data):
    response = getattr(client, method)(url, data) if data else getattr(client, method)(url)
    assert response.status_code == 400


def test_a_nul_byte_in_a_cookie_is_refused_with_400(client, db):
    client.cookies["pkx_visitor"] = "a\x00b"
    assert client.get("/").status_code == 400


def test_ordinary_requests_pass_the_nul_check(client, db):
    assert client.get("/?q=poem").status_code == 200
