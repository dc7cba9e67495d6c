"""API keys: stored as a hash and shown once, revoked for good, limited to the owner's own
pickaxes; the same through `manage.py api_keys` and the /account/api-keys/ page."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from embeds import selectors, services
from embeds.models import ApiKey, hash_secret
from tests.pickaxes.factories import PickaxeFactory


def test_a_key_is_kept_only_as_a_hash_with_a_visible_prefix(user):
    new = services.create_api_key(owner=user, name="backend")
    assert new.secret.startswith("pk_live_") and len(new.secret) > 40
    row = ApiKey.objects.get()
    assert row.secret_hash == hash_secret(new.secret) and new.secret not in row.secret_hash
    assert new.secret.startswith(row.prefix) and len(row.prefix) == len("pk_live_") + 8
    assert selectors.api_key_for_secret(new.secret) == row


def test_a_revoked_key_is_not_usable(user):
    new = services.create_api_key(owner=user, name="backend")
    services.revoke_api_key(key=new.key)
    with pytest.raises(selectors.KeyNotUsable, match="revoked"):
        selectors.api_key_for_secret(new.secret)


def test_a_key_can_be_limited_to_its_owners_pickaxes_only(user):
    with pytest.raises(ValueError):
        services.create_api_key(owner=user, name="x", pickaxes=[PickaxeFactory()])


def test_the_command_creates_lists_and_revokes_keys(user):
    out = StringIO()
    call_command(
        "api_keys", "create", user.email, "nightly job", "--runs-per-minute", "5", stdout=out, stderr=StringIO()
    )
    secret = out.getvalue().strip()
    key = selectors.api_key_for_secret(secret)
    assert (key.name, key.owner, key.runs_per_minute) == ("nightly job", user, 5)

    listed = StringIO()
    call_command("api_keys", "list", user.email, stdout=listed)
    assert key.prefix in listed.getvalue() and "nightly job" in listed.getvalue() and secret not in listed.getvalue()

    call_command("api_keys", "revoke", key.prefix + "…", stdout=StringIO())
    with pytest.raises(selectors.KeyNotUsable):
        selectors.api_key_for_secret(secret)
    with pytest.raises(CommandError):
        call_command("api_keys", "revoke", "pk_live_nothere")
    with pytest.raises(CommandError):
        call_command("api_keys", "list", "nobody@example.com")


def test_the_page_shows_a_new_key_once_and_lists_it_by_prefix(client, user):
    client.force_login(user)
    made = client.post(
        "/account/api-keys/",
        {
            "name": "backend",
            "runs_per_minute": 30,
            "runs_per_end_user": 3,
            "end_user_period": "day",
            "budget_per_30_days": 0,
        },
    )
    assert made.status_code == 200 and made["Cache-Control"] == "no-store"
    key = ApiKey.objects.get()
    secret = made.content.decode().split('data-testid="api-key-secret" data-secret>', 1)[1].split("<", 1)[0]
    assert hash_secret(secret) == key.secret_hash and key.runs_per_end_user == 3
    page = client.get("/account/api-keys/").content.decode()
    assert key.prefix in page and secret not in page


def test_the_page_revokes_only_the_owners_keys(client, user, make_user):
    mine = services.create_api_key(owner=user, name="mine").key
    theirs = services.create_api_key(owner=make_user(), name="theirs").key
    client.force_login(user)
    assert client.post(f"/account/api-keys/{theirs.pk}/revoke/").status_code == 404
    assert client.post(f"/account/api-keys/{mine.pk}/revoke/").status_code == 302
    mine.refresh_from_db(), theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None


def test_the_account_page_links_the_keys_and_the_docs(client, user):
    client.force_login(user)
    page = client.get("/account/").content.decode()
    assert 'href="/account/api-keys/"' in page and 'href="/api/v1/docs/"' in page
    docs = client.get("/api/v1/docs/").content.decode()
    assert "curl" in docs and "import httpx" in docs and "/api/v1/openapi.json" in docs
    assert 'id="problem-rate-limited"' in docs and "POST /api/v1/pickaxes/{slug}/runs" in docs


def test_staff_revoke_a_key_in_the_admin_and_never_see_its_hash(client, make_user, user):
    new = services.create_api_key(owner=user, name="leaked")
    client.force_login(make_user(is_staff=True, is_superuser=True))
    page = client.get(f"/admin/embeds/apikey/{new.key.pk}/change/").content.decode()
    assert new.key.prefix in page and new.key.secret_hash not in page
    client.post("/admin/embeds/apikey/", {"action": "revoke", "_selected_action": [new.key.pk]})
    with pytest.raises(selectors.KeyNotUsable, match="revoked"):
        selectors.api_key_for_secret(new.secret)
