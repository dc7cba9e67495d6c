"""Signals other apps send about a user; accounts defines them so that senders and
receivers need not know each other (DESIGN.md section 6)."""

from django.dispatch import Signal

# Sent by billing (webhooks, staff) when what a user holds changes.
# Arguments: user, allowance (the credits the plan and packs now allow in use at once),
# reason (what changed and why, for the ledger's note).
entitlement_changed = Signal()
