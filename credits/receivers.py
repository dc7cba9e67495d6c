"""Signal receivers: other apps tell credits what happened without importing it."""

from django.conf import settings
from django.db.models.signals import post_save

from accounts.signals import entitlement_changed
from credits import services
from credits.models import Entry


def give_new_user_an_account(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        services.open_account(instance)


def sync_allowance(
    sender, user, allowance, reason="plan changed", stripe_event_id=None, staff=None, plan_name="", **kwargs
):
    """A plan or pack changed: the allowance becomes the new total; used credits stay used.
    `plan_name` ("Gold + 1 × Extra 100") is what the user reads in their activity."""
    if stripe_event_id:
        cause, cause_ref = Entry.Cause.STRIPE_EVENT, stripe_event_id
    else:
        cause, cause_ref = (Entry.Cause.STAFF if staff else Entry.Cause.PLAN), ""
    services.set_allowance(user, allowance, reason=reason, cause=cause, cause_ref=cause_ref, user_note=plan_name)


def connect():
    post_save.connect(
        give_new_user_an_account,
        sender=settings.AUTH_USER_MODEL,
        dispatch_uid="credits.give_new_user_an_account",
    )
    entitlement_changed.connect(sync_allowance, dispatch_uid="credits.sync_allowance")
