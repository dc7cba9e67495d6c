"""The admin's login form is limited like every login form (allauth's login_failed limit)."""

import pytest
from django.core.cache import cache

from tests.factories import PASSWORD


@pytest.fixture(autouse=True)
def fresh_limits():
    cache.clear()  # allauth counts attempts in the cache
    yield
    cache.clear()


@pytest.fixture
def staff(make_user):
    return make_user(is_staff=True, is_superuser=True)


def admin_login(client, email, password):
    return client.post("/admin/login/?next=/admin/", {"username": email, "password": password})


def test_admin_login_brute_force_is_locked_out_then_the_right_password_is_refused_too(client, staff):
    for _ in range(15):
        assert admin_login(client, staff.email, "wrong").status_code == 200
    response = admin_login(client, staff.email, PASSWORD)
    assert response.status_code == 200 and "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_admin_login_a_lockout_on_the_site_login_holds_on_the_admin_login(client, staff):
    for _ in range(6):
        client.post("/accounts/login/", {"login": staff.email, "password": "wrong"})
    response = admin_login(client, staff.email, PASSWORD)
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_admin_login_still_logs_staff_in_and_refuses_non_staff(client, staff, make_user):
    response = admin_login(client, staff.email, PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    client.logout()
    member = make_user()
    response = admin_login(client, member.email, PASSWORD)
    assert response.status_code == 200 and "_auth_user_id" not in client.session
