"""API keys for operators and scripts: `api_keys create <email> <name>` (prints the new key
once), `api_keys list <email>`, `api_keys revoke <prefix>`. The same services as the
/account/api-keys/ page."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from embeds import selectors, services
from embeds.models import Embed


class Command(BaseCommand):
    help = "Create, list and revoke API keys of the run API."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Make a key for a user; prints it once.")
        create.add_argument("email")
        create.add_argument("name")
        create.add_argument("--expires-in-days", type=int, default=None)
        create.add_argument("--runs-per-minute", type=int, default=None)
        create.add_argument("--runs-per-end-user", type=int, default=0)
        create.add_argument("--end-user-period", choices=Embed.Period.values, default=Embed.Period.DAY)
        create.add_argument("--budget-per-30-days", type=int, default=0)
        listing = actions.add_parser("list", help="A user's keys, by prefix.")
        listing.add_argument("email")
        revoke = actions.add_parser("revoke", help="Revoke the key with this prefix (pk_live_…).")
        revoke.add_argument("prefix")

    def handle(self, *args, action, **options):
        getattr(self, f"_{action}")(**options)

    def _user(self, email):
        user = get_user_model().objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No user with the email {email}.")
        return user

    def _create(self, *, email, name, expires_in_days, **options):
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        new = services.create_api_key(
            owner=self._user(email),
            name=name,
            expires_at=expires_at,
            runs_per_minute=options["runs_per_minute"],
            runs_per_end_user=options["runs_per_end_user"],
            end_user_period=options["end_user_period"],
            budget_per_30_days=options["budget_per_30_days"],
        )
        self.stdout.write(new.secret)
        self.stderr.write(f"Key {new.key.prefix}… “{name}” made; it is shown only this once.")

    def _list(self, *, email, **options):
        for key in selectors.api_keys_of(self._user(email)):
            state = (
                f"revoked {key.revoked_at:%Y-%m-%d}"
                if key.revoked_at
                else f"expires {key.expires_at:%Y-%m-%d}"
                if key.expires_at
                else "active"
            )
            used = f"{key.used_at:%Y-%m-%d %H:%M}" if key.used_at else "never"
            self.stdout.write(
                f"{key.prefix}…\t{key.name}\tcreated {key.created_at:%Y-%m-%d}\tlast used {used}\t{state}"
            )

    def _revoke(self, *, prefix, **options):
        key = selectors.api_key_with_prefix(prefix)
        if key is None:
            raise CommandError(f"No key with the prefix {prefix}.")
        services.revoke_api_key(key=key)
        self.stdout.write(f"Revoked {key.prefix}… “{key.name}”.")
