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
from django.core import signing
from django.db import IntegrityError, connection, transaction
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
    hash_secret,
    new_token,
)
from pickaxes import services as pickaxe_services
from pickaxes.models import Pickaxe, Run

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


def start_embed_run(*, embed, visitor_id, visitor_ip, inputs, submission_key):
    """Submit in an embed: the pickaxe's owner pays, within the embed's limits.

    One transaction: the embed row is locked, its limits are counted, the run is opened
    (charging the owner) and recorded as this visitor's. Returns pickaxes' Started;
    raises EmbedRefused (a limit, or the owner resting: out of credits, emailed at most
    once a day).
    """
    owner = embed.pickaxe.owner
    # Keys are per payer: the visitor id keeps two visitors' keys apart.
    submission_key = f"{visitor_id[:16]}-{submission_key}"[:64]
    if Run.objects.filter(payer=owner, submission_key=submission_key).exists():
        # A repeated submission shows its first run, even if that run used the last of
        # the visitor's limit.
        return pickaxe_services.first_run_of(owner, submission_key)
    try:
        with transaction.atomic(durable=True):
            locked = Embed.objects.select_for_update().get(pk=embed.pk)
            now = timezone.now()
            _check_limits(locked, visitor_id=visitor_id, visitor_ip=visitor_ip, now=now)
            try:
                started = pickaxe_services.open_run(
                    pickaxe=embed.pickaxe,
                    payer=owner,
                    submitted_by=None,
                    inputs=inputs,
                    submission_key=submission_key,
                    source=Run.Source.EMBED,
                )
            except OutOfCredits as out:
                _tell_owner_once_a_day(locked, out.next_return_at, now=now)
                refusal = EmbedRefused(RESTING, reason=RefusedRuns.Reason.RESTING)
            else:
                if started.created:
                    EmbedRun.objects.create(
                        run=started.run,
                        embed=locked,
                        visitor_id=visitor_id,
                        visitor_ip=visitor_ip,
                        started_at=started.run.started_at,
                    )
                return started
    except IntegrityError:
        return pickaxe_services.first_run_of(owner, submission_key)
    except EmbedRefused as raised:  # a limit (the run's transaction is rolled back by now)
        refusal = raised
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


def _check_limits(embed, *, visitor_id, visitor_ip, now):
    """Raise EmbedRefused when a limit is reached (counted under the embed's row lock)."""
    if not is_available(embed):
        raise EmbedRefused(UNAVAILABLE, reason=RefusedRuns.Reason.UNAVAILABLE)
    runs = EmbedRun.objects.filter(embed=embed)
    try:
        hold_limit(
            runs.filter(visitor_id=visitor_id).exclude(run__refunded=True),
            cap=embed.runs_per_visitor,
            window=PERIODS[embed.period],
            now=now,
        )
    except LimitReached as limit:
        raise EmbedRefused(_limit_message(embed, limit.again_at), reason=RefusedRuns.Reason.VISITOR_LIMIT) from None
    try:
        hold_limit(runs.filter(visitor_ip=visitor_ip), cap=embed.runs_per_ip_per_day, window=timedelta(days=1), now=now)
    except LimitReached as limit:
        raise EmbedRefused(_limit_message(embed, limit.again_at), reason=RefusedRuns.Reason.ADDRESS_LIMIT) from None
    try:
        hold_limit(
            Run.objects.filter(payer_id=embed.pickaxe.owner_id, source=Run.Source.EMBED),
            cap=settings.EMBED_OWNER_RUNS_PER_MINUTE,
            window=timedelta(minutes=1),
            now=now,
        )
    except LimitReached:
        raise EmbedRefused(
            "This tool is very busy right now. Please try again in a minute.", reason=RefusedRuns.Reason.OWNER_CAP
        ) from None


class LimitReached(Exception):
    """A limit stops the next run; `again_at` is when it lets one through again (None: never)."""

    def __init__(self, again_at):
        self.again_at = again_at
        super().__init__(f"limit reached until {again_at}")


def hold_limit(runs, *, cap, window, now):
    """Raise LimitReached when `runs` (the rows one limit counts: a visitor's, an address's,
    an end user's, a key's; each with `started_at`) already number `cap` within `window`
    before `now` (window None: ever). A cap of 0 is no limit.

    Embeds and API keys both count this way, under the lock of the embed's or the key's row,
    so a limit holds across every web process."""
    if not cap:
        return
    if window:
        runs = runs.filter(started_at__gt=now - window)
    counted = list(runs.order_by("started_at").values_list("started_at", flat=True)[:cap])
    if len(counted) >= cap:
        raise LimitReached(counted[0] + window if window else None)


def _limit_message(embed, again_at):
    count = embed.runs_per_visitor or embed.runs_per_ip_per_day
    if again_at is None:
        return f"You have used all {count} runs of this tool. Thank you for trying it!"
    when = format_date(timezone.localtime(again_at), "j M \\a\\t H:i T")
    return f"You have reached the limit of this tool for now. You can run it again on {when}."


def _tell_owner_once_a_day(embed, next_return_at, *, now):
    """Email the owner that their embed is resting, at most once a day (the embed row is
    locked by the caller, so many visitors at once still send one email)."""
    if embed.owner_emailed_at and embed.owner_emailed_at > now - timedelta(days=1):
        return
    embed.owner_emailed_at = now
    embed.save(update_fields=["owner_emailed_at"])
    # Queued in the caller's transaction and sent by a task: the visitor's request never
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


def start_api_run(*, key, pickaxe, end_user, inputs, idempotency_key="", body_hash):
    """A call of the run API: the key's owner pays, within the key's limits.

    One transaction under a lock on the key's row (when it has limits or the call an
    Idempotency-Key): a replay of the same Idempotency-Key finds the first run
    (IdempotencyConflict if the body differs), the limits are counted,
    the run is opened (charging the owner) and recorded as this end user's. Returns
    pickaxes' Started; raises ApiRefused, with nothing charged.
    """
    owner = key.owner
    first = _first_api_run(key, idempotency_key, body_hash)
    if first:
        return first
    submission_key = api_submission_key(key, idempotency_key)
    try:
        with transaction.atomic(durable=True):
            if idempotency_key or _has_limits(key):
                # Counting and replaying are decided one call at a time per key. (A key with
                # no limits, called without an Idempotency-Key, has nothing to decide.)
                key = ApiKey.objects.select_for_update().get(pk=key.pk)
                first = _first_api_run(key, idempotency_key, body_hash)  # a replay that waited for the lock
                if first:
                    return first
            now = timezone.now()
            _check_api_limits(key, end_user=end_user, now=now)
            try:
                started = pickaxe_services.open_run(
                    pickaxe=pickaxe,
                    payer=owner,
                    submitted_by=None,
                    inputs=inputs,
                    submission_key=submission_key,
                    source=Run.Source.API,
                )
            except OutOfCredits as out:
                refusal = ApiRefused(ApiRefused.OUT_OF_CREDITS, out.next_return_at)
            else:
                if started.created:
                    _write_api_run(
                        started.run, key=key, end_user=end_user, idempotency_key=idempotency_key, body_hash=body_hash
                    )
                return started
    except IntegrityError:
        return _first_api_run(key, idempotency_key, body_hash)
    raise refusal  # after the block, so the "empty until" hint spend wrote commits


def _write_api_run(run, *, key, end_user, idempotency_key, body_hash):
    """INSERT the run's ApiRun row: one plain statement, because every API run makes it
    (`ApiRun.objects.create` cost a run ~0.2 ms more CPU; bench/README.md, "Instructions per
    run"). Keep the columns in step with ApiRun. The same Idempotency-Key written meanwhile
    by another call raises IntegrityError (apirun_unique_idempotency_key), as a save() would."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO embeds_apirun (run_id, key_id, end_user, idempotency_key, body_hash, started_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [
                run.pk,
                key.pk,
                end_user,
                idempotency_key,
                body_hash,
                connection.ops.adapt_datetimefield_value(run.started_at),
            ],
        )


def _first_api_run(key, idempotency_key, body_hash):
    if not idempotency_key:
        return None
    first = ApiRun.objects.filter(key=key, idempotency_key=idempotency_key).select_related("run__pickaxe").first()
    if first is None:
        return None
    if first.body_hash != body_hash:
        raise IdempotencyConflict(idempotency_key)
    return pickaxe_services.Started(run=first.run, created=False)


def _has_limits(key):
    return bool(key.runs_per_minute or key.runs_per_end_user or key.budget_per_30_days)


def _check_api_limits(key, *, end_user, now):
    """Raise ApiRefused when one of the key's limits is reached (under the key's row lock)."""
    if not _has_limits(key):
        return
    runs = ApiRun.objects.filter(key=key)
    limits = [
        (ApiRefused.RATE_LIMITED, runs, key.runs_per_minute, timedelta(minutes=1)),
        (
            ApiRefused.END_USER_LIMIT,
            runs.filter(end_user=end_user).exclude(run__refunded=True),
            key.runs_per_end_user,
            PERIODS[key.end_user_period],
        ),
        (ApiRefused.KEY_BUDGET, runs.exclude(run__refunded=True), key.budget_per_30_days, timedelta(days=30)),
    ]
    for kind, counted, cap, window in limits:
        try:
            hold_limit(counted, cap=cap, window=window, now=now)
        except LimitReached as limit:
            raise ApiRefused(kind, limit.again_at, cap=cap) from None
