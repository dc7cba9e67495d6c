"""Own OpenAI key (BYOK): Gold only, encrypted at rest, never shown."""

import pytest
from cryptography.fernet import Fernet

from accounts import crypto, services
from accounts.models import OwnApiKey, User
from accounts.plans import FREE
from credits import selectors as credits
from pickaxes.models import Run
from tests.pickaxes.conftest import post_run

KEY = "sk-own-key-0123456789abcdefWXYZ"


@pytest.fixture
def gold(make_user):
    user = make_user()
    services.set_plan(user, User.Plan.GOLD)
    return user


def test_own_key_a_gold_payer_runs_on_their_key_and_spends_nothing(client, gold, pickaxe, fake_openai):
    services.save_own_api_key(gold, KEY)
    client.force_login(gold)
    html = post_run(client, pickaxe).content.decode()
    assert "Hello from the fake model" in html
    assert fake_openai.requests[0]["headers"]["authorization"] == f"Bearer {KEY}"
    run = Run.objects.get()
    assert run.own_key and run.entry is None
    assert credits.balance(gold) == FREE.allowance


def test_own_key_a_free_user_with_a_stored_key_spends_credits_on_the_platform_key(client, gold, pickaxe, fake_openai):
    services.save_own_api_key(gold, KEY)
    services.set_plan(gold, User.Plan.FREE)  # Gold ended; the key stays stored, unused
    client.force_login(gold)
    post_run(client, pickaxe)
    assert fake_openai.requests[0]["headers"]["authorization"] == "Bearer sk-test-platform"
    assert credits.balance(gold) == FREE.allowance - 1 and not Run.objects.get().own_key
    assert OwnApiKey.objects.filter(user=gold).exists()


def test_own_key_a_failing_key_fails_the_run_with_no_charge_and_no_fallback(client, gold, pickaxe, fake_openai):
    services.save_own_api_key(gold, KEY)
    fake_openai.valid_keys = {"sk-test-platform"}
    client.force_login(gold)
    html = post_run(client, pickaxe).content.decode()
    assert "Your own OpenAI key: The API key was refused" in html
    assert len(fake_openai.requests) == 1  # no second try on the platform key
    run = Run.objects.get()
    assert (run.status, run.own_key) == ("failed", True)
    assert credits.balance(gold) == FREE.allowance


def test_own_key_is_encrypted_at_rest_and_shown_masked(client, gold):
    client.force_login(gold)
    response = client.post("/account/own-key/", {"key": KEY})
    assert response.status_code == 302
    stored = OwnApiKey.objects.get(user=gold)
    assert KEY not in stored.ciphertext and stored.last4 == "WXYZ"
    assert crypto.decrypt(stored.ciphertext) == KEY
    html = client.get("/account/").content.decode()
    assert "sk-…WXYZ" in html and KEY not in html


def test_own_key_only_gold_members_may_save_one(client, user):
    client.force_login(user)
    client.post("/account/own-key/", {"key": KEY})
    assert not OwnApiKey.objects.exists()
    with pytest.raises(PermissionError):
        services.save_own_api_key(user, KEY)


def test_own_key_a_malformed_key_is_refused_with_a_reason(client, gold):
    client.force_login(gold)
    response = client.post("/account/own-key/", {"key": "not a key"}, follow=True)
    assert "does not look like an OpenAI API key" in response.content.decode()
    assert not OwnApiKey.objects.exists()


def test_own_key_can_be_replaced_and_deleted(client, gold):
    client.force_login(gold)
    client.post("/account/own-key/", {"key": KEY})
    client.post("/account/own-key/", {"key": "sk-another-key-9876543210abcd"})
    assert OwnApiKey.objects.get().last4 == "abcd"
    client.post("/account/own-key/delete/")
    assert not OwnApiKey.objects.exists()


def test_own_key_encryption_keys_rotate(gold, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    services.save_own_api_key(gold, KEY)
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert services.rotate_encryption() == 1
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert services.usable_own_api_key(gold) == KEY
    settings.FIELD_ENCRYPTION_KEYS = [old]
    with pytest.raises(services.OwnKeyUnreadable):
        services.usable_own_api_key(gold)


def test_own_key_that_no_longer_decrypts_fails_the_run_clearly_uncharged(client, gold, pickaxe, fake_openai, settings):
    services.save_own_api_key(gold, KEY)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the old key was removed
    client.force_login(gold)
    response = post_run(client, pickaxe)
    assert response.status_code == 200
    assert "Your saved OpenAI key can no longer be read; save it again" in response.content.decode()
    assert not Run.objects.exists() and not fake_openai.requests
    assert credits.balance(gold) == FREE.allowance


def test_own_key_that_no_longer_decrypts_is_said_in_the_stream_too(gold, pickaxe, fake_openai, settings):
    from tests.pickaxes.conftest import post_run_streamed

    services.save_own_api_key(gold, KEY)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    key = "k" * 20
    response, events = post_run_streamed(gold, pickaxe, {"topic": "the sea", "submission_key": key})
    assert events[-1][0] == "end" and "can no longer be read" in events[-1][1]["message"]
    assert credits.balance(gold) == FREE.allowance
