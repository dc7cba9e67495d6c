"""Operator command: look at a user's credits, grant or deduct with a reason.

manage.py credits show alice@example.com
manage.py credits grant alice@example.com 50 --reason "conference demo" --expires 2026-12-31 --user-note "Thanks for coming!"
manage.py credits deduct alice@example.com 10 --reason "abuse, ticket 4411"
"""

from datetime import date, datetime, time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from credits import selectors, services
from credits.models import Entry


def positive_int(value):
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "Show a user's credits, or grant or deduct credits with a required reason."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)

        show = actions.add_parser("show", help="balance, allowance, returns and recent ledger")
        show.add_argument("email")
        show.add_argument("--limit", type=positive_int, default=20)

        grant = actions.add_parser("grant", help="add bonus credits that expire")
        grant.add_argument("email")
        grant.add_argument("amount", type=positive_int)
        grant.add_argument("--reason", required=True)
        grant.add_argument(
            "--expires", type=date.fromisoformat, help=f"YYYY-MM-DD (default: {settings.CREDIT_REPLENISH_DAYS} days)"
        )
        grant.add_argument("--staff", help="email of the staff member responsible")
        grant.add_argument("--user-note", default="", help="what the user reads in their activity (not the reason)")

        deduct = actions.add_parser(
            "deduct", help=f"take credits away (they return in {settings.CREDIT_REPLENISH_DAYS} days)"
        )
        deduct.add_argument("email")
        deduct.add_argument("amount", type=positive_int)
        deduct.add_argument("--reason", required=True)
        deduct.add_argument("--staff", help="email of the staff member responsible")
        deduct.add_argument("--user-note", default="", help="what the user reads in their activity (not the reason)")

    def handle(self, *args, action, email, **options):
        user = self._user(email)
        if action == "grant":
            expires_at = None
            if options["expires"]:
                expires_at = timezone.make_aware(datetime.combine(options["expires"], time.max))
            try:
                services.grant(
                    user,
                    options["amount"],
                    expires_at=expires_at,
                    reason=options["reason"],
                    user_note=options["user_note"],
                    staff=self._staff(options["staff"]),
                    cause=Entry.Cause.STAFF,  # an operator at the shell, acting as staff
                )
            except ValueError as error:
                raise CommandError(str(error)) from error
            self.stdout.write(self.style.SUCCESS(f"Granted {options['amount']} credits to {user}."))
        elif action == "deduct":
            try:
                services.deduct(
                    user,
                    options["amount"],
                    reason=options["reason"],
                    user_note=options["user_note"],
                    staff=self._staff(options["staff"]),
                    cause=Entry.Cause.STAFF,
                )
            except ValueError as error:
                raise CommandError(str(error)) from error
            self.stdout.write(self.style.SUCCESS(f"Deducted {options['amount']} credits from {user}."))
        self._show(user, limit=options.get("limit", 10))

    def _user(self, email):
        try:
            return get_user_model().objects.get(email__iexact=email)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user with the email {email}.") from None

    def _staff(self, email):
        if not email:
            return None
        staff = self._user(email)
        if not staff.is_staff:
            raise CommandError(f"{email} is not a staff member.")
        return staff

    def _show(self, user, *, limit):
        out = self.stdout.write
        out(f"{user}")
        out(f"  balance:   {selectors.balance(user)} (spendable now: {selectors.available(user)})")
        out(f"  allowance: {selectors.allowance(user)}")
        returns = selectors.returns_schedule(user)
        out("  returns:   " + (", ".join(f"{n} on {day:%d %b}" for day, n in returns) or "none due"))
        out("  recent ledger:")
        for entry in selectors.recent_entries(user, limit=limit):
            expires = f" expires {entry.expires_at:%Y-%m-%d %H:%M}" if entry.expires_at else ""
            by = f" by {entry.staff}" if entry.staff else ""
            out(f"    {entry.created_at:%Y-%m-%d %H:%M} {entry.amount:+5d} {entry.kind:<9}{expires}{by} {entry.note}")
