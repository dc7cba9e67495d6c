"""Embeds: a pickaxe on any website in an <iframe>, addressed by an unguessable token.

Every embed run is paid by the pickaxe's owner. Limits per visitor, per IP and per
owner per minute are counted from the runs in the database, so they hold across
any number of web processes.

An API key is a server-side embed: its owner pays for the runs made with it, within the
same kind of limits (ApiKey, ApiRun).
"""

import hashlib
import secrets

from django.conf import settings
from django.db import models

from accounts.validators import single_line
from pickaxes.models import Pickaxe, Run


def new_token():
    return secrets.token_urlsafe(18)


class Embed(models.Model):
    class Period(models.TextChoices):
        DAY = "day", "per day"
        DAYS_30 = "30days", "per 30 days"
        EVER = "ever", "ever"

    class Theme(models.TextChoices):
        LIGHT = "light", "Light"
        DARK = "dark", "Dark"

    pickaxe = models.OneToOneField(Pickaxe, on_delete=models.CASCADE, related_name="embed")
    token = models.CharField(max_length=40, unique=True, default=new_token)
    enabled = models.BooleanField(default=True)
    runs_per_visitor = models.PositiveSmallIntegerField(
        default=0, help_text="Prompt runs each visitor may make (0 = no limit)."
    )
    period = models.CharField(max_length=8, choices=Period.choices, default=Period.DAY)
    allowed_domains = models.TextField(
        blank=True, help_text="One domain per line, e.g. example.com. Empty = any website."
    )
    theme = models.CharField(max_length=5, choices=Theme.choices, default=Theme.LIGHT)
    height = models.PositiveSmallIntegerField(default=560, help_text="Starting height in pixels.")
    runs_per_ip_per_day = models.PositiveSmallIntegerField(
        default=100, help_text="Backstop per network address, whatever the visitor id (0 = no limit)."
    )
    owner_emailed_at = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"embed of {self.pickaxe}"

    def domains(self):
        return [line.strip().lower() for line in self.allowed_domains.splitlines() if line.strip()]


class RetiredToken(models.Model):
    """An address the embed had before its owner made a new one. Kept (the last few, see
    services.RETIRED_TOKENS_KEPT) so that an old snippet still on some website says that
    the tool has moved instead of showing a broken frame; it never runs anything."""

    embed = models.ForeignKey(Embed, on_delete=models.CASCADE, related_name="retired_tokens")
    token = models.CharField(max_length=40, unique=True)
    retired_at = models.DateTimeField()

    class Meta:
        ordering = ["-retired_at", "-id"]

    def __str__(self):
        return f"old address of {self.embed} (until {self.retired_at:%Y-%m-%d})"


class RefusedHost(models.Model):
    """How many times a website that is not on the embed's allowed domains tried to show
    it, per embed, host and day: from the embed view's own refusals and from the browsers'
    CSP reports. A counter, with a cap on the hosts counted a day (services.count_refused_host),
    so nobody can fill the table by sending made-up reports."""

    embed = models.ForeignKey(Embed, on_delete=models.CASCADE, related_name="refused_hosts")
    host = models.CharField(max_length=253)
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["embed", "day", "host"], name="refusedhost_one_counter_per_day"),
        ]

    def __str__(self):
        return f"{self.host} refused {self.count} times on {self.day} for {self.embed}"


class EmbedRun(models.Model):
    """Who an embed run was for: the visitor's random id and a keyed hash of their address.

    The run itself (charge, output) is the pickaxes Run; this row is what the embed's
    limits count, so it lives with the embed.
    """

    run = models.OneToOneField(Run, on_delete=models.CASCADE, primary_key=True, related_name="embed_run")
    embed = models.ForeignKey(Embed, on_delete=models.CASCADE, related_name="runs")
    visitor_id = models.CharField(max_length=64, help_text="The visitor's random id.")
    visitor_ip = models.CharField(max_length=64, help_text="The visitor's address, hashed.")
    started_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["embed", "visitor_id", "started_at"], name="embedrun_visitor_idx"),
            models.Index(fields=["embed", "visitor_ip", "started_at"], name="embedrun_ip_idx"),
        ]

    def __str__(self):
        return f"embed run {self.run_id} for visitor {self.visitor_id[:8]}"


class RefusedRuns(models.Model):
    """How many embed runs were refused, per embed, day and reason, before anything was
    charged: what the owner's usage page shows. A counter, not a row per refusal, so a
    script hammering a limit adds no rows."""

    class Reason(models.TextChoices):
        VISITOR_LIMIT = "visitor", "visitor limit"
        ADDRESS_LIMIT = "address", "address limit"
        OWNER_CAP = "owner_cap", "owner cap (embed runs a minute)"
        RESTING = "resting", "resting (you were out of credits)"
        UNAVAILABLE = "unavailable", "switched off or private"

    embed = models.ForeignKey(Embed, on_delete=models.CASCADE, related_name="refused")
    day = models.DateField()
    reason = models.CharField(max_length=12, choices=Reason.choices)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "refused runs"
        constraints = [
            models.UniqueConstraint(fields=["embed", "day", "reason"], name="refusedruns_one_counter_per_day"),
        ]

    def __str__(self):
        return f"{self.count} refused ({self.reason}) on {self.day} for {self.embed}"


def hash_secret(secret):
    """What is kept of an API key: its SHA-256 (the secret is 256 random bits, so no salt or
    stretching is needed to make guessing it from the hash hopeless)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def api_holder(key, end_user):
    """Who may read and continue a conversation started through the API (its `holder`):
    the key and the end user the caller named, hashed (it is the caller's name for someone)."""
    return f"key:{key.pk}:{hashlib.sha256(end_user.encode()).hexdigest()[:32]}"


def embed_holder(embed, visitor_id):
    """Who may read and continue a conversation started in an embed: its visitor."""
    return f"embed:{embed.pk}:{visitor_id}"


class ApiKey(models.Model):
    """A key for the public run API: a server-side embed. Its owner pays for every run made
    with it; its limits are the embed's (runs per end user in a period, runs per minute),
    plus a budget per 30 days.

    Only a hash of the secret is kept (hash_secret); `prefix` is the part shown in lists.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=80, validators=[single_line])
    prefix = models.CharField(max_length=20, unique=True)
    secret_hash = models.CharField(max_length=64, unique=True)
    pickaxes = models.ManyToManyField(
        Pickaxe,
        blank=True,
        related_name="+",
        help_text="Only these of your pickaxes (none chosen: any pickaxe you may run on the site).",
    )
    runs_per_minute = models.PositiveIntegerField(default=30, help_text="Runs per minute with this key (0 = no limit).")
    runs_per_end_user = models.PositiveIntegerField(
        default=0, help_text="Runs each of your end users may make (0 = no limit)."
    )
    end_user_period = models.CharField(max_length=8, choices=Embed.Period.choices, default=Embed.Period.DAY)
    budget_per_30_days = models.PositiveIntegerField(
        default=0, help_text="Credits this key may spend in any 30 days (0 = no limit)."
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Written by the calls that start no run (at most once a minute); a run's own time is
    # its ApiRun's, so a run costs no write here (selectors.api_keys_of takes the later).
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"API key {self.prefix}… ({self.name})"


class ApiRun(models.Model):
    """Who an API run was for, and the request that started it.

    `idempotency_key` is the caller's Idempotency-Key header (empty when none was sent);
    unique per API key in the database, so a replay can only ever find the first run.
    `body_hash` tells a replay (same body) from a different request under the same key.
    """

    run = models.OneToOneField(Run, on_delete=models.CASCADE, primary_key=True, related_name="api_run")
    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="runs")
    end_user = models.CharField(max_length=128, help_text="The caller's end user, as the caller named them.")
    idempotency_key = models.CharField(max_length=255, blank=True)
    body_hash = models.CharField(max_length=64)
    started_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="apirun_unique_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["key", "end_user", "started_at"], name="apirun_end_user_idx"),
            models.Index(fields=["key", "started_at"], name="apirun_key_recent_idx"),
        ]

    def __str__(self):
        return f"API run {self.run_id} for {self.end_user}"
