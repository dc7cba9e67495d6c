"""allauth's pages in the site's style and words ("Log in", "Sign up"), and, when a
pickaxe's Submit sent you there, its name."""

import re

from django.test import Client

from tests.factories import PASSWORD
from tests.pickaxes.factories import PickaxeFactory

ALLAUTH_WORDS = ("Sign In", "Sign Up", "Signup", "Remember Me", "Sign Out", "Menu:")


def test_the_login_page_says_log_in_in_the_site_layout(client, db):
    html = client.get("/accounts/login/").content.decode()
    assert "<h1>Log in</h1>" in html and '<button type="submit">Log in</button>' in html
    assert "Keep me logged in on this device" in html and 'class="site-header"' in html
    assert not any(word in html for word in ALLAUTH_WORDS)


def test_the_signup_page_says_sign_up_and_what_you_get(client, db):
    html = client.get("/accounts/signup/").content.decode()
    assert "<h1>Sign up</h1>" in html and '<button type="submit">Sign up</button>' in html
    assert "25 free credits" in html
    assert not any(word in html for word in ALLAUTH_WORDS)


def test_the_logout_and_password_reset_pages_use_the_site_words(client, user):
    client.force_login(user)
    html = client.get("/accounts/logout/").content.decode()
    assert "<h1>Log out</h1>" in html and not any(word in html for word in ALLAUTH_WORDS)
    html = Client().get("/accounts/password/reset/").content.decode()
    assert 'class="site-header"' in html and not any(word in html for word in ALLAUTH_WORDS)


def test_a_submit_that_needs_a_login_names_the_pickaxe_on_the_login_page(client, db):
    pickaxe = PickaxeFactory(name="Cold email writer")
    response = client.post(f"/p/{pickaxe.slug}/run/", {"topic": "a warm hello", "submission_key": "k" * 20})
    login = response["Location"]
    html = client.get(login).content.decode()
    assert "<h1>Log in to run Cold email writer</h1>" in html
    signup = client.get(login.replace("/login/", "/signup/")).content.decode()
    assert "<h1>Sign up to run Cold email writer</h1>" in signup


def test_logging_in_from_a_submit_leads_back_to_the_form_with_what_was_typed(client, user):
    pickaxe = PickaxeFactory(name="Cold email writer")
    response = client.post(f"/p/{pickaxe.slug}/run/", {"topic": "a warm hello", "submission_key": "k" * 20})
    response = client.post(response["Location"], {"login": user.email, "password": PASSWORD}, follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == f"/p/{pickaxe.slug}/" and 'value="a warm hello"' in html


def test_a_private_pickaxe_or_another_address_names_nothing(client, db):
    private = PickaxeFactory(name="Secret plan", visibility="private")
    for next_url in (f"/p/{private.slug}/", "https://evil.example/p/x/", "/account/", "/p/nope/"):
        html = client.get("/accounts/login/", {"next": next_url}).content.decode()
        assert "<h1>Log in</h1>" in html and "Secret plan" not in html


def test_a_bad_login_says_so_in_the_form(client, user):
    html = client.post("/accounts/login/", {"login": user.email, "password": "wrong"}).content.decode()
    assert "errorlist" in html and "<h1>Log in</h1>" in html


def test_the_password_reset_pages_say_what_happens_in_the_sites_words(client, user, mailoutbox):
    html = client.get("/accounts/password/reset/").content.decode()
    assert "<h1>Reset your password</h1>" in html and "Send me the link" in html
    response = client.post("/accounts/password/reset/", {"email": user.email}, follow=True)
    assert "<h1>Check your email</h1>" in response.content.decode()
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", mailoutbox[0].body).group(1)
    response = client.get(link, follow=True)
    form_url = response.redirect_chain[-1][0] if response.redirect_chain else link
    assert "<h1>Choose a new password</h1>" in response.content.decode()
    new = "a-brand-new-passphrase-7"
    response = client.post(form_url, {"password1": new, "password2": new}, follow=True)
    assert "<h1>Password changed</h1>" in response.content.decode()
    assert Client().login(email=user.email, password=new)


def test_an_old_reset_link_says_it_has_expired(client, db):
    html = client.get("/accounts/password/reset/key/1-nonsense/", follow=True).content.decode()
    assert "<h1>This link has expired</h1>" in html and not any(word in html for word in ALLAUTH_WORDS)


def test_the_email_page_adds_and_lists_addresses_in_the_sites_words(client, user):
    client.force_login(user)
    html = client.get("/accounts/email/").content.decode()
    assert "<h1>Your email addresses</h1>" in html and user.email in html
    assert not any(word in html for word in ALLAUTH_WORDS)
    response = client.post("/accounts/email/", {"action_add": "", "email": "second@example.com"}, follow=True)
    assert response.status_code == 200 and "second@example.com" in response.content.decode()
