"""Embed rules: signed form tokens, visitor ids, the limits, and the owner's resting email.

Every count is taken from the Run table inside the run's transaction, under a lock on
the embed row, so the limits hold exactly across any number of web processes.
"""

import hashlib
import secrets
import hmac
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.defaultfilters import date as format_date
from django.utils import timezone

from embeds.models import Embed, new_token
from pickaxes.models import Run
from pickaxes.running import RunResult
from pickaxes.services import RunNotAllowed

FORM_TOKEN_SALT = "embeds.form-token"
PERIODS = {Embed.Period.DAY: timedelta(days=1), Embed.Period.DAYS_30: timedelta(days=30), Embed.Period.EVER: None}


class BadFormToken(Exception):
    """The form's signed token is missing, forged, expired or for another embed."""


def embed_for(pickaxe):
    embed, _ = Embed.objects.get_or_create(pickaxe=pickaxe)
    return embed


def rotate_token(embed):
    """A new address for the embed; the old snippet stops working at once."""
    embed.token = new_token()
    embed.save(update_fields=["token", "updated_at"])
    return embed


def new_visitor_id():
    return secrets.token_hex(16)


def issue_form_token(embed, *, visitor_id, parent_host):
    """A signed, expiring token for the embed's form: which embed, which visitor, framed where."""
    return signing.dumps({"e": embed.token, "v": visitor_id, "p": parent_host}, salt=FORM_TOKEN_SALT, compress=True)


def read_form_token(token, embed):
    """(visitor_id, parent_host) from a valid token for this embed; else BadFormToken."""
    try:
        data = signing.loads(token or "", salt=FORM_TOKEN_SALT, max_age=settings.EMBED_FORM_TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        raise BadFormToken("This form has expired. Reload the page and try again.") from None
    except signing.BadSignature:
        raise BadFormToken("This form could not be checked. Reload the page and try again.") from None
    if data.get("e") != embed.token or not data.get("v"):
        raise BadFormToken("This form could not be checked. Reload the page and try again.")
    return data["v"], data.get("p", "")


def host_allowed(embed, host):
    """Whether `host` (a host name, no port) may show or post to this embed."""
    domains = embed.domains()
    if not domains:
        return True
    host = (host or "").lower()
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def frame_ancestors(embed):
    """The CSP frame-ancestors sources: the allowed domains, or any site when there are none."""
    domains = embed.domains()
    if not domains:
        return ["*"]
    return ["'self'"] + [source for domain in domains for source in (f"{domain}:*", f"*.{domain}:*")]


def hash_ip(ip):
    """Addresses are kept only as a keyed hash: enough to count, not to identify."""
    return hmac.new(settings.SECRET_KEY.encode(), (ip or "").encode(), hashlib.sha256).hexdigest()[:32]


def limits_guard(embed, *, visitor_id, visitor_ip):
    """The check services.start_run runs inside the run's transaction (see module doc)."""

    def guard():
        locked = Embed.objects.select_for_update().get(pk=embed.pk)
        if not locked.enabled:
            raise RunNotAllowed("This tool is not available right now.")
        now = timezone.now()
        runs = Run.objects.filter(pickaxe_id=locked.pickaxe_id, source=Run.Source.EMBED)

        if locked.runs_per_visitor:
            window = PERIODS[locked.period]
            mine = runs.filter(visitor_id=visitor_id).exclude(refunded=True)
            if window:
                mine = mine.filter(started_at__gt=now - window)
            used = list(mine.order_by("started_at").values_list("started_at", flat=True)[: locked.runs_per_visitor])
            if len(used) >= locked.runs_per_visitor:
                raise RunNotAllowed(_limit_message(locked, used[0] + window if window else None))

        if locked.runs_per_ip_per_day:
            from_ip = runs.filter(visitor_ip=visitor_ip, started_at__gt=now - timedelta(days=1))
            first = list(from_ip.order_by("started_at").values_list("started_at", flat=True)[: locked.runs_per_ip_per_day])
            if len(first) >= locked.runs_per_ip_per_day:
                raise RunNotAllowed(_limit_message(locked, first[0] + timedelta(days=1)))

        per_minute = settings.EMBED_OWNER_RUNS_PER_MINUTE
        if per_minute:
            recent = Run.objects.filter(
                payer_id=locked.pickaxe.owner_id, source=Run.Source.EMBED, started_at__gt=now - timedelta(minutes=1)
            )
            if recent.count() >= per_minute:
                raise RunNotAllowed("This tool is very busy right now. Please try again in a minute.")

    return guard


def _limit_message(embed, again_at):
    count = embed.runs_per_visitor or embed.runs_per_ip_per_day
    if again_at is None:
        return f"You have used all {count} runs of this tool. Thank you for trying it!"
    when = format_date(timezone.localtime(again_at), "j M \\a\\t H:i T")
    return f"You have reached the limit of this tool for now. You can run it again on {when}."


def resting(embed):
    """The `refusal` for an embed whose owner is out of credits: a neutral message for the
    visitor, and an email to the owner at most once a day (one conditional update
    decides, so many visitors at once still send one email)."""

    def refusal(payer, next_return_at):
        now = timezone.now()
        claimed = Embed.objects.filter(pk=embed.pk).filter(
            Q(owner_emailed_at__isnull=True) | Q(owner_emailed_at__lte=now - timedelta(days=1))
        ).update(owner_emailed_at=now)
        if claimed:
            transaction.on_commit(lambda: _email_owner(embed, next_return_at))
        return RunResult(ok=False, message="This tool is resting. Please try again later.", visitor_safe=True)

    return refusal


def _email_owner(embed, next_return_at):
    pickaxe = embed.pickaxe
    when = format_date(timezone.localtime(next_return_at), "j M \\a\\t H:i T") if next_return_at else "when you add credits"
    send_mail(
        f"Your embedded pickaxe “{pickaxe.name}” is out of credits",
        (
            f"Visitors of your embed of “{pickaxe.name}” are being told the tool is resting: your account "
            f"has no credits left. Your next credit comes back on {when}.\n\n"
            f"Plans and extra credits: {settings.SITE_URL.rstrip('/')}/billing/\n\n— Pickaxe"
        ),
        None,
        [pickaxe.owner.email],
    )
