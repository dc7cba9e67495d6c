"""Signals other apps send about a user; accounts defines them so that senders and
receivers need not know each other."""

from django.dispatch import Signal

# Sent by billing (webhooks, staff) when what a user holds changes.
# Arguments: user, allowance (the credits the plan and packs now allow in use at once),
# reason (what changed and why, for the ledger's note), stripe_event_id (the Stripe
# event that triggered the change, or None) and staff (the staff member who set the
# plan by hand, or None): the ledger records the cause by these, not by the text;
# plan_name ("Gold + 1 × Extra 100") is what the user reads in their activity.
entitlement_changed = Signal()
