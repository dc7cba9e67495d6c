"""A new user gets the Free allowance exactly once, however the user was made."""

from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.plans import FREE, GOLD
from credits import selectors, services
from credits.models import Entry


def test_new_user_gets_the_free_allowance(user):
    assert selectors.allowance(user) == FREE.allowance
    assert selectors.balance(user) == FREE.allowance


def test_free_allowance_is_given_exactly_once(user):
    user.name = "Renamed"
    user.save()
    services.open_account(user)
    services.open_account(user)
    assert Entry.objects.filter(account__user=user).count() == 1
    assert selectors.allowance(user) == FREE.allowance


def test_free_allowance_is_not_given_back_after_a_plan_change(user):
    services.set_allowance(user, GOLD.allowance, reason="Gold")
    services.open_account(user)
    assert selectors.allowance(user) == GOLD.allowance


def test_users_made_in_the_shell_get_the_free_allowance(db):
    user = get_user_model().objects.create_user("shell@example.com", "pw-12345-long")
    assert selectors.balance(user) == FREE.allowance


def test_superusers_made_by_createsuperuser_get_the_free_allowance(db):
    call_command("createsuperuser", email="boss@example.com", interactive=False, verbosity=0)
    boss = get_user_model().objects.get(email="boss@example.com")
    assert selectors.allowance(boss) == FREE.allowance


def test_users_added_in_the_admin_get_the_free_allowance(admin_client):
    response = admin_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "added@example.com",
            "password1": "a-long-passphrase-9",
            "password2": "a-long-passphrase-9",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    added = get_user_model().objects.get(email="added@example.com")
    assert selectors.balance(added) == FREE.allowance
