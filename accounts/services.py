"""Writes for accounts: the plan tier and the user's own OpenAI key."""

from django.db import transaction

from accounts import crypto
from accounts.models import OwnApiKey, User


def set_plan(user, plan):
    """Record the user's plan tier (billing decides it from their subscriptions)."""
    if user.plan != plan:
        User.objects.filter(pk=user.pk).update(plan=plan)
        user.plan = plan


@transaction.atomic
def save_own_api_key(user, key):
    """Store (or replace) the user's own key, encrypted; only its last 4 characters stay readable."""
    key = key.strip()
    if not user.is_gold:
        raise PermissionError("Only Gold members can use their own key.")
    OwnApiKey.objects.update_or_create(user=user, defaults={"ciphertext": crypto.encrypt(key), "last4": key[-4:]})


def delete_own_api_key(user):
    OwnApiKey.objects.filter(user=user).delete()


def usable_own_api_key(user):
    """The plaintext key to run on, when the user is Gold and saved one; else None."""
    if not user.is_gold:
        return None
    stored = OwnApiKey.objects.filter(user=user).first()
    return crypto.decrypt(stored.ciphertext) if stored else None


@transaction.atomic
def rotate_encryption():
    """Re-encrypt every stored key with the newest FIELD_ENCRYPTION_KEYS key."""
    count = 0
    for stored in OwnApiKey.objects.select_for_update().iterator():
        OwnApiKey.objects.filter(pk=stored.pk).update(ciphertext=crypto.rotate(stored.ciphertext))
        count += 1
    return count
