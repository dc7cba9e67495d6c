"""Writes for accounts: the plan tier, the user's own OpenAI key, and the emails users get."""

import logging

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts import crypto
from accounts.models import OutgoingEmail, OwnApiKey, User

logger = logging.getLogger(__name__)


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


class OwnKeyUnreadable(Exception):
    """The user's saved key no longer decrypts (FIELD_ENCRYPTION_KEYS lost the key that
    encrypted it): they have to save it again. Runs never fall back to credits."""


def usable_own_api_key(user):
    """The plaintext key to run on, when the user is Gold and saved one; else None.

    Raises OwnKeyUnreadable when the saved key can no longer be decrypted."""
    if not user.is_gold:
        return None
    stored = OwnApiKey.objects.filter(user=user).first()
    if stored is None:
        return None
    try:
        return crypto.decrypt(stored.ciphertext)
    except crypto.DecryptionFailed:
        logger.warning("The own API key of user %s no longer decrypts with FIELD_ENCRYPTION_KEYS.", user.pk)
        raise OwnKeyUnreadable("No key in FIELD_ENCRYPTION_KEYS opens this user's saved key.") from None


@transaction.atomic
def rotate_encryption():
    """Re-encrypt every stored key with the newest FIELD_ENCRYPTION_KEYS key."""
    count = 0
    for stored in OwnApiKey.objects.select_for_update().iterator():
        OwnApiKey.objects.filter(pk=stored.pk).update(ciphertext=crypto.rotate(stored.ciphertext))
        count += 1
    return count


def queue_email(*, key, to, subject, body):
    """Store an email to send once per `key` and enqueue its sending; returns it, or None
    when an email with this key exists already.

    Call it inside the transaction that decides the email: the row and its task (the queue
    is a table in the same database) are committed with that decision or not at all.
    """
    from accounts.tasks import send_email  # accounts.tasks imports this module

    # One line: a pickaxe name with CR/LF must not end the Subject header (Django refuses
    # such a header, and mail servers would read the rest as headers of their own).
    subject = " ".join(subject.split())[:300]
    with transaction.atomic():
        email, created = OutgoingEmail.objects.get_or_create(
            key=key, defaults={"to": to, "subject": subject, "body": body}
        )
        if not created:
            return None
        send_email.enqueue(email_id=email.pk)
    return email


def send_queued_email(email_id):
    """Send a queued email unless it was sent already; True when this call sent it.

    The row stays locked from the check to the mark, with the SMTP conversation between
    them: a second run of the task waits for the first, then finds the email sent. When the
    mail server fails, the mark rolls back with the error and a retry sends the email. Only
    a crash after the server accepted the message and before our commit can send it twice;
    nothing can lose it.
    """
    with transaction.atomic():
        email = OutgoingEmail.objects.select_for_update().get(pk=email_id)
        if email.sent_at is not None:
            return False
        send_mail(email.subject, email.body, None, [email.to], fail_silently=False)
        email.sent_at = timezone.now()
        email.save(update_fields=["sent_at"])
    return True
