"""Embed rules: signed form tokens, visitor ids, starting a run the owner pays for within
the embed's limits, and the owner's resting email; and the same for the public run API
(API keys: a server-side embed).

Every count is taken from the database inside the run's transaction, under a lock on the
embed row, so the limits hold exactly across any number of web processes.
"""

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.defaultfilters import date as format_date
from django.utils import timezone

from accounts import services as accounts
from credits.services import OutOfCredits
from embeds.models import (
    ApiKey,
    ApiRun,
    Embed,
    EmbedRun,
    RefusedHost,
    RefusedRuns,
    RetiredToken,
    api_holder,
    embed_holder,
    hash_secret,
    new_token,
)
from pickaxes import services as pickaxe_services
from pickaxes.models import Pickaxe, Run
from pickaxes.services import Limit, LimitReached

FORM_TOKEN_SALT = "embeds.form-token"
PERIODS = {Embed.Period.DAY: timedelta(days=1), Embed.Period.DAYS_30: timedelta(days=30), Embed.Period.EVER: None}


class BadFormToken(Exception):
    """The form's signed token is missing, forged, expired or for another embed."""


def embed_for(pickaxe):
    embed, _ = Embed.objects.get_or_create(pickaxe=pickaxe)
    return embed


# How many of an embed's old addresses still answer "this tool has moved".
RETIRED_TOKENS_KEPT = 5


def rotate_token(embed):
    """A new address for the embed. The old one stops running the tool at once and answers
    "moved" instead (the last RETIRED_TOKENS_KEPT old addresses; older ones answer 404)."""
    with transaction.atomic():
        RetiredToken.objects.create(embed=embed, token=embed.token, retired_at=timezone.now())
        embed.token = new_token()
        embed.save(update_fields=["token", "updated_at"])
        kept = embed.retired_tokens.values_list("pk", flat=True)[:RETIRED_TOKENS_KEPT]
        embed.retired_tokens.exclude(pk__in=list(kept)).delete()
    return embed


MOVED = "This tool has moved. The site's owner needs to update it."


def allow_domain(embed, host):
    """Add `host` to the embed's allowed domains (nothing when it is allowed already); its
    refusals are settled, so they leave the owner's list of refused websites."""
    if host_allowed(embed, host):  # no list at all allows every site: nothing to add
        return embed
    host = host.lower()
    with transaction.atomic():
        embed.allowed_domains = "\n".join([*embed.domains(), host])
        embed.save(update_fields=["allowed_domains", "updated_at"])
        RefusedHost.objects.filter(embed=embed, host=host).delete()
    return embed


# The most refused hosts counted per embed a day: reports come from anyone's browser (or
# anyone's script), so what one embed may add is bounded.
REFUSED_HOSTS_PER_DAY = 20


class BadReport(Exception):
    """A CSP report body that is not JSON of either report format."""


def refused_hosts_in_report(body, content_type, *, own_host):
    """The websites a CSP violation report names as refused framers: frame-ancestors
    violations only, in either format browsers send (`application/csp-report`, one object
    under "csp-report", for report-uri; `application/reports+json`, a list of reports, for
    report-to). Raises BadReport for anything that is not such JSON.

    Chromium's report names the framed page (ours) as blocked and the framing page only as
    the referrer; so the host is the referrer's, else the blocked address's when it is not
    our own; "" when the report names no other website (the page sends no referrer)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadReport("not JSON") from None
    if "reports+json" in content_type:
        if not isinstance(data, list):
            raise BadReport("a report list was expected")
        bodies = [
            report.get("body")
            for report in data
            if isinstance(report, dict)
            and report.get("type") == "csp-violation"
            and isinstance(report.get("body"), dict)
        ]
        violations = [(b.get("effectiveDirective"), b.get("referrer"), b.get("blockedURL")) for b in bodies]
    else:
        if not isinstance(data, dict) or not isinstance(data.get("csp-report"), dict):
            raise BadReport("a csp-report object was expected")
        report = data["csp-report"]
        directive = report.get("effective-directive") or report.get("violated-directive")
        directive = directive.split(" ")[0] if isinstance(directive, str) else None
        violations = [(directive, report.get("referrer"), report.get("blocked-uri"))]
    hosts = []
    for directive, *urls in violations:
        if directive != "frame-ancestors":
            continue
        named = [_report_host(url) for url in urls if isinstance(url, str)]
        host = next((host for host in named if host and host != own_host), "")
        if host not in hosts:
            hosts.append(host)
    return hosts


HOST_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def _report_host(url):
    try:
        host = (urlsplit(url[:2048]).hostname or "").lower()
    except ValueError:
        return ""
    return host if HOST_NAME.match(host) else ""


def count_refused_host(*, embed, host):
    """One more refusal of `host` (a website not on the allowed domains; "" for one that
    sent no address) for the owner to see: counted per embed, host and day; a new host is
    counted only while the day has fewer than REFUSED_HOSTS_PER_DAY. Hosts on the allowed
    domains are not counted (nor anything while the list is empty: every site is allowed)."""
    if host_allowed(embed, host):
        return
    day = timezone.localdate()
    with transaction.atomic():
        counters = RefusedHost.objects.filter(embed=embed, day=day, host=host)
        if counters.update(count=F("count") + 1):
            return
        if RefusedHost.objects.filter(embed=embed, day=day).count() >= REFUSED_HOSTS_PER_DAY:
            return
        try:
            with transaction.atomic():
                RefusedHost.objects.create(embed=embed, day=day, host=host, count=1)
        except IntegrityError:  # another process counted this host's first refusal meanwhile
            counters.update(count=F("count") + 1)


VISITOR_ID = re.compile(r"^[0-9a-f]{32}$")


def new_visitor_id():
    return secrets.token_hex(16)


def visitor_id_from_cookie(value):
    """The visitor id the cookie carries when it has the form new_visitor_id() issues;
    else a new one. The cookie comes from the browser, so anything else is not ours."""
    if value and VISITOR_ID.match(value):
        return value
    return new_visitor_id()


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


UNAVAILABLE = "This tool is not available right now."


def is_available(embed):
    """Whether the embed serves its page and runs: its owner left it enabled, and the
    pickaxe is not private (staff "Unpublish" makes it private). The visitor is only told
    it is unavailable, never why."""
    return embed.enabled and embed.pickaxe.visibility != Pickaxe.Visibility.PRIVATE


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
    """Addresses are kept only as a keyed hash: enough to count, not to identify.

    `ip` is the client's address as the server saw it (REMOTE_ADDR: behind a proxy, the
    one FORWARDED_ALLOW_IPS lets uvicorn take from X-Forwarded-For). One client is one
    IPv4 address or one IPv6 /64 (a host usually holds a whole /64 and may pick any
    address in it), so the per-address limit counts clients, not addresses."""
    return hmac.new(settings.SECRET_KEY.encode(), _client_network(ip).encode(), hashlib.sha256).hexdigest()[:32]


def _client_network(ip):
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return ip or ""
    if address.version == 6 and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


RESTING = "This tool is resting. Please try again later."


class EmbedRefused(Exception):
    """The embed refuses this run before anything is charged; `message` is for the visitor,
    `reason` (a RefusedRuns.Reason) for the owner's counts."""

    def __init__(self, message, *, reason):
        self.message = message
        self.reason = reason
        super().__init__(message)


def start_embed_run(*, embed, visitor_id, visitor_ip, inputs, submission_key, conversation=None):
    """Submit in an embed (or Send, for a chat pickaxe: `inputs` {"message": text} and the
    visitor's `conversation`, None for a new one): the pickaxe's owner pays, within the
    embed's limits, message by message.

    The limits are counted under a lock on the owner's row, so the per-visitor and
    per-address limits of each embed and the owner's per-minute cap across all their
    embeds hold exactly across any number of web processes. Returns pickaxes' Started;
    raises EmbedRefused (a limit, or the owner resting: out of credits, emailed at most
    once a day), counted for the owner's usage page.
    """
    pickaxe = embed.pickaxe
    owner_id = pickaxe.owner_id
    if not is_available(embed):
        _count_refusal(embed=embed, reason=RefusedRuns.Reason.UNAVAILABLE)
        raise EmbedRefused(UNAVAILABLE, reason=RefusedRuns.Reason.UNAVAILABLE)
    runs = EmbedRun.objects.filter(embed=embed)
    if pickaxe.kind == Pickaxe.Kind.CHAT and conversation is None:
        conversation = pickaxe_services.new_conversation(
            pickaxe=pickaxe, holder=embed_holder(embed, visitor_id), source=Run.Source.EMBED, message=inputs["message"]
        )
    try:
        return pickaxe_services.start_run(
            pickaxe=pickaxe,
            payer=pickaxe.owner,
            source=Run.Source.EMBED,
            inputs=inputs,
            # Keys are per payer: the visitor id keeps two visitors' keys apart.
            submission_key=f"{visitor_id[:16]}-{submission_key}"[:64],
            locks=[get_user_model().objects.filter(pk=owner_id)],
            limits=[
                Limit(
                    runs.filter(visitor_id=visitor_id).exclude(run__refunded=True),
                    cap=embed.runs_per_visitor,
                    window=PERIODS[embed.period],
                    reason=RefusedRuns.Reason.VISITOR_LIMIT,
                ),
                Limit(
                    runs.filter(visitor_ip=visitor_ip),
                    cap=embed.runs_per_ip_per_day,
                    window=timedelta(days=1),
                    reason=RefusedRuns.Reason.ADDRESS_LIMIT,
                ),
                Limit(
                    Run.objects.filter(payer_id=owner_id, source=Run.Source.EMBED),
                    cap=settings.EMBED_OWNER_RUNS_PER_MINUTE,
                    window=timedelta(minutes=1),
                    reason=RefusedRuns.Reason.OWNER_CAP,
                ),
            ],
            records=[EmbedRun(embed=embed, visitor_id=visitor_id, visitor_ip=visitor_ip)],
            conversation=conversation,
        )
    except LimitReached as limit:
        refusal = EmbedRefused(_limit_message(embed, limit), reason=limit.reason)
    except OutOfCredits as out:
        _tell_owner_once_a_day(embed, out.next_return_at)
        refusal = EmbedRefused(RESTING, reason=RefusedRuns.Reason.RESTING)
    _count_refusal(embed=embed, reason=refusal.reason)
    raise refusal


def _count_refusal(*, embed, reason):
    """One more refused run for the embed's owner to see, counted per day and reason in a
    short transaction of its own, after the refused run's."""
    day = timezone.localdate()
    with transaction.atomic():
        counters = RefusedRuns.objects.filter(embed=embed, day=day, reason=reason)
        if counters.update(count=F("count") + 1):
            return
        try:
            with transaction.atomic():
                RefusedRuns.objects.create(embed=embed, day=day, reason=reason, count=1)
        except IntegrityError:  # another process made today's counter meanwhile
            counters.update(count=F("count") + 1)


def _limit_message(embed, limit):
    if limit.reason == RefusedRuns.Reason.OWNER_CAP:
        return "This tool is very busy right now. Please try again in a minute."
    if limit.again_at is None:
        count = embed.runs_per_visitor or embed.runs_per_ip_per_day
        return f"You have used all {count} runs of this tool. Thank you for trying it!"
    when = format_date(timezone.localtime(limit.again_at), "j M \\a\\t H:i T")
    return f"You have reached the limit of this tool for now. You can run it again on {when}."


def _tell_owner_once_a_day(embed, next_return_at):
    """Email the owner that their embed is resting, at most once a day (under a lock on the
    embed row, so many visitors at once still send one email)."""
    with transaction.atomic():
        locked = Embed.objects.select_for_update().get(pk=embed.pk)
        now = timezone.now()
        if locked.owner_emailed_at and locked.owner_emailed_at > now - timedelta(days=1):
            return
        locked.owner_emailed_at = now
        locked.save(update_fields=["owner_emailed_at"])
        # Queued in this transaction and sent by a task: the visitor's request never
        # waits for (or fails on) the mail server.
        _email_owner(embed, next_return_at, key=f"embed-resting:{embed.pk}:{now.isoformat()}")


def _email_owner(embed, next_return_at, *, key):
    pickaxe = embed.pickaxe
    when = (
        format_date(timezone.localtime(next_return_at), "j M \\a\\t H:i T")
        if next_return_at
        else "when you add credits"
    )
    accounts.queue_email(
        key=key,
        to=pickaxe.owner.email,
        subject=f"Your embedded pickaxe “{pickaxe.name}” is out of credits",
        body=(
            f"Visitors of your embed of “{pickaxe.name}” are being told the tool is resting: your account "
            f"has no credits left. Your next credit comes back on {when}.\n\n"
            f"Plans and extra credits: {settings.SITE_URL.rstrip('/')}/billing/\n\n— Pickaxe"
        ),
    )


# The public run API: an API key is a server-side embed. Its owner pays for every run made
# with it, within the key's limits; a refused call is never charged.

API_KEY_PREFIX = "pk_live_"


@dataclass(frozen=True)
class NewApiKey:
    """A key just made, with its secret: shown once, never stored."""

    key: ApiKey
    secret: str


def create_api_key(
    *,
    owner,
    name,
    expires_at=None,
    pickaxes=(),
    runs_per_minute=None,
    runs_per_end_user=0,
    end_user_period=Embed.Period.DAY,
    budget_per_30_days=0,
):
    """A new API key of `owner`'s, limited to some of their own pickaxes when `pickaxes`
    names any. Returns NewApiKey: the secret exists only in this answer."""
    pickaxes = list(pickaxes)
    if any(pickaxe.owner_id != owner.pk for pickaxe in pickaxes):
        raise ValueError("A key can be limited to your own pickaxes only.")
    random_part = secrets.token_urlsafe(32)
    secret = f"{API_KEY_PREFIX}{random_part}"
    with transaction.atomic():
        key = ApiKey.objects.create(
            owner=owner,
            name=name,
            prefix=secret[: len(API_KEY_PREFIX) + 8],
            secret_hash=hash_secret(secret),
            expires_at=expires_at,
            runs_per_minute=settings.EMBED_OWNER_RUNS_PER_MINUTE if runs_per_minute is None else runs_per_minute,
            runs_per_end_user=runs_per_end_user,
            end_user_period=end_user_period,
            budget_per_30_days=budget_per_30_days,
        )
        key.pickaxes.set(pickaxes)
    return NewApiKey(key=key, secret=secret)


def revoke_api_key(*, key):
    """The key stops working at once (its runs stay in the usage and history)."""
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db()
    return key


def note_api_key_used(*, key, now=None):
    """A call that starts no run used the key: `last_used_at`, written at most once a
    minute per key, so a busy key's reads do not each write."""
    now = now or timezone.now()
    if key.last_used_at is None or key.last_used_at < now - timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


class ApiRefused(Exception):
    """An API run refused before anything was charged: `kind` (one of the constants
    below) says which limit, `again_at` when it lets a run through again (None: not by
    waiting)."""

    END_USER_LIMIT = "end-user-limit"
    RATE_LIMITED = "rate-limited"
    KEY_BUDGET = "key-budget-spent"
    OUT_OF_CREDITS = "out-of-credits"

    def __init__(self, kind, again_at=None, *, cap=None):
        self.kind = kind
        self.again_at = again_at
        self.cap = cap
        super().__init__(kind)


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request body."""


def api_submission_key(key, idempotency_key):
    """The run's submission key (unique per payer, and the charge's key): from the API key
    and the caller's Idempotency-Key, so a replay can only find the first run; random when
    the caller sent none."""
    if not idempotency_key:
        return f"api-{key.pk}-{secrets.token_hex(16)}"
    return f"api-{key.pk}-{hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]}"


def start_api_run(*, key, pickaxe, end_user, inputs, idempotency_key="", body_hash, conversation=None):
    """A call of the run API: the key's owner pays, within the key's limits. For a chat
    pickaxe, `inputs` is {"message": text} and `conversation` the one it continues (its
    holder checked by the caller), None to start one held by the key and `end_user`.

    A replay of the same Idempotency-Key is answered with its first run (its submission
    key is derived from the Idempotency-Key), or refused with IdempotencyConflict when the
    body differs. The limits are counted under a lock on the key's row (taken only when
    the key has limits or the call an Idempotency-Key). Returns pickaxes' Started; raises
    ApiRefused, with nothing charged.
    """
    runs = ApiRun.objects.filter(key=key)
    if pickaxe.kind == Pickaxe.Kind.CHAT and conversation is None:
        conversation = pickaxe_services.new_conversation(
            pickaxe=pickaxe, holder=api_holder(key, end_user), source=Run.Source.API, message=inputs["message"]
        )
    limits = [
        Limit(runs, cap=key.runs_per_minute, window=timedelta(minutes=1), reason=ApiRefused.RATE_LIMITED),
        Limit(
            runs.filter(end_user=end_user).exclude(run__refunded=True),
            cap=key.runs_per_end_user,
            window=PERIODS[key.end_user_period],
            reason=ApiRefused.END_USER_LIMIT,
        ),
        Limit(
            runs.exclude(run__refunded=True),
            cap=key.budget_per_30_days,
            window=timedelta(days=30),
            reason=ApiRefused.KEY_BUDGET,
        ),
    ]
    try:
        started = pickaxe_services.start_run(
            pickaxe=pickaxe,
            payer=key.owner,
            source=Run.Source.API,
            inputs=inputs,
            submission_key=api_submission_key(key, idempotency_key),
            locks=[ApiKey.objects.filter(pk=key.pk)] if idempotency_key or _has_limits(key) else [],
            limits=[limit for limit in limits if limit.cap],
            records=[ApiRun(key=key, end_user=end_user, idempotency_key=idempotency_key, body_hash=body_hash)],
            conversation=conversation,
        )
    except LimitReached as limit:
        raise ApiRefused(limit.reason, limit.again_at, cap=limit.limit.cap) from None
    except OutOfCredits as out:
        raise ApiRefused(ApiRefused.OUT_OF_CREDITS, out.next_return_at) from None
    if not started.created and started.run.api_run.body_hash != body_hash:
        raise IdempotencyConflict(idempotency_key)
    return started


def _has_limits(key):
    return bool(key.runs_per_minute or key.runs_per_end_user or key.budget_per_30_days)
