"""Embeds: a pickaxe on any website in an <iframe>, addressed by an unguessable token.

Every embed run is paid by the pickaxe's owner. Limits per visitor, per IP and per
owner per minute are counted from the runs in the database, so they hold across
any number of web processes.
"""

import secrets

from django.db import models

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
