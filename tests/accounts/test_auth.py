"""Sign-up, log-in, log-out, password change and reset: email + password through allauth."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from accounts.plans import FREE
from credits import selectors
from tests.factories import PASSWORD


def test_sign_up_with_email_and_password_lands_on_the_account_page(client, db):
    response = client.post(
        "/accounts/signup/",
        {"email": "New@Example.com", "password1": "a-long-passphrase-9", "password2": "a-long-passphrase-9"},
    )
    assert response.status_code == 302 and response["Location"] == "/account/"
    user = get_user_model().objects.get(email__iexact="new@example.com")
    assert selectors.balance(user) == FREE.allowance
    assert client.get("/account/").status_code == 200


def test_sign_up_with_a_taken_email_or_weak_password_says_why(client, user):
    response = client.post(
        "/accounts/signup/",
        {"email": user.email, "password1": "a-long-passphrase-9", "password2": "a-long-passphrase-9"},
    )
    assert "already registered" in response.content.decode()
    response = client.post("/accounts/signup/", {"email": "x@example.com", "password1": "123", "password2": "123"})
    assert "too short" in response.content.decode()
    assert get_user_model().objects.count() == 1


def test_log_in_with_email_and_log_out(client, user):
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/account/"
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/account/").status_code == 302


def test_log_in_with_a_wrong_password_is_refused(client, user):
    response = client.post("/accounts/login/", {"login": user.email, "password": "wrong"})
    assert response.status_code == 200
    assert "not correct" in response.content.decode()


def test_password_change(client, user):
    client.force_login(user)
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": "another-long-phrase-7", "password2": "another-long-phrase-7"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("another-long-phrase-7")


def test_password_reset_by_email(client, user):
    client.post("/accounts/password/reset/", {"email": user.email})
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", mail.outbox[0].body).group(1)
    form_url = client.get(link)["Location"]  # allauth moves the key into the session
    response = client.post(form_url, {"password1": "reset-long-phrase-5", "password2": "reset-long-phrase-5"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("reset-long-phrase-5")


def test_email_verification_when_switched_on(client, db, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    client.post(
        "/accounts/signup/",
        {"email": "verify@example.com", "password1": "a-long-passphrase-9", "password2": "a-long-passphrase-9"},
    )
    assert len(mail.outbox) == 1 and "verify@example.com" in mail.outbox[0].to
    assert client.get("/account/").status_code == 302  # not signed in until verified


def test_control_characters_in_a_users_name_are_refused(db):
    from django.core.exceptions import ValidationError

    from accounts.models import User

    user = User(email="someone@example.com", name="Ann\r\nBcc: all@example.com")
    user.set_unusable_password()
    with pytest.raises(ValidationError) as refused:
        user.full_clean()
    assert "name" in refused.value.message_dict


def test_email_verification_production_requires_it_by_default():
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.test_settings import PRODUCTION

    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "ACCOUNT_EMAIL_VERIFICATION")}
    env.update(PRODUCTION, DJANGO_SETTINGS_MODULE="config.settings", ALLOW_LOCAL_CACHE="true")
    code = "import django; django.setup(); from django.conf import settings; print(settings.ACCOUNT_EMAIL_VERIFICATION)"
    root = Path(__file__).resolve().parents[2]
    started = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert started.stdout.strip() == "mandatory", started.stderr


def test_email_verification_mandatory_no_log_in_and_no_run_until_the_link_is_followed(client, db, settings, pickaxe):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    password = "a-long-passphrase-9"
    response = client.post(
        "/accounts/signup/", {"email": "farmer@example.com", "password1": password, "password2": password}
    )
    assert response.status_code == 302 and "confirm-email" in response["Location"]
    assert "_auth_user_id" not in client.session  # not logged in: no account page, no runs
    run = client.post(f"/p/{pickaxe.slug}/run/", {"topic": "free credits"})
    assert run.status_code == 302 and run["Location"].startswith("/accounts/login/")
    refused = client.post("/accounts/login/", {"login": "farmer@example.com", "password": password})
    assert "_auth_user_id" not in client.session and refused.status_code == 302
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[-1].body).group(0)
    client.post(link.split("testserver", 1)[-1])
    client.post("/accounts/login/", {"login": "farmer@example.com", "password": password})
    assert "_auth_user_id" in client.session
