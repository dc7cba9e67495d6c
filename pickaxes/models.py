"""Pickaxes (AI tools: a hidden prompt template behind an input form, or hidden instructions
behind a chat), their runs, and chats' conversations (each message sent is one run)."""

import re
import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.functional import cached_property

from accounts.validators import lines_of_text, single_line

PLACEHOLDER = re.compile(r"\{\{\s*([a-z][a-z0-9_]*)\s*\}\}")


MAX_STARTERS = 4


class Pickaxe(models.Model):
    class Kind(models.TextChoices):
        FORM = "form", "Form: people fill in fields, the model answers once"
        CHAT = "chat", "Chat: people send messages, the model answers each one"

    class Visibility(models.TextChoices):
        PUBLIC = "public", "Public: listed on the home page"
        UNLISTED = "unlisted", "Unlisted: anyone with the link"
        PRIVATE = "private", "Private: only you"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pickaxes")
    name = models.CharField(max_length=80, validators=[single_line])
    slug = models.SlugField(max_length=90, unique=True)
    description = models.CharField(max_length=300, blank=True, validators=[single_line])
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE)
    kind = models.CharField(max_length=4, choices=Kind.choices, default=Kind.FORM)
    system_instructions = models.TextField(
        blank=True, max_length=8000, help_text="Hidden from users: how the model should behave."
    )
    # A form's template (required for a form); a chat has none.
    prompt_template = models.TextField(
        blank=True, max_length=8000, help_text="Hidden from users. Put inputs in with {{field_key}}."
    )
    # A chat's: shown to the person as the chat's first message (and sent to the model as
    # the assistant's), and up to MAX_STARTERS suggested first messages, one per line.
    opening_message = models.TextField(
        blank=True, max_length=2000, help_text="Shown to people as the chat's first message."
    )
    starters = models.TextField(
        blank=True,
        max_length=1000,
        validators=[lines_of_text],
        help_text=f"Suggested first messages, one per line (at most {MAX_STARTERS}).",
    )
    model = models.CharField(max_length=60)
    temperature = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=0.7,
        validators=[MinValueValidator(0), MaxValueValidator(2)],
    )
    max_output_tokens = models.PositiveIntegerField(
        default=800, validators=[MinValueValidator(16), MaxValueValidator(4000)]
    )
    # Kept by services.count_runs on the sweep's schedule, never by a run (no row every run
    # of a popular pickaxe would queue on). `runs_counted_at`: when it was last counted.
    runs_count = models.PositiveIntegerField(default=0, editable=False)
    runs_counted_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["visibility", "-created_at"], name="pickaxe_public_newest_idx"),
            models.Index(fields=["visibility", "-runs_count"], name="pickaxe_public_most_run_idx"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("pickaxe", args=[self.slug])

    @cached_property
    def input_fields(self):
        """The input fields in form order: prefetched `fields`, else one query, kept on
        the instance (a selector may set it to fields it read itself)."""
        return list(self.fields.all())

    @property
    def is_chat(self):
        return self.kind == self.Kind.CHAT

    def starter_list(self):
        """The suggested first messages, in order (at most MAX_STARTERS)."""
        return [line.strip() for line in self.starters.splitlines() if line.strip()][:MAX_STARTERS]

    def placeholders(self):
        """The field keys the prompt template uses, in order of first use."""
        return list(dict.fromkeys(PLACEHOLDER.findall(self.prompt_template)))


class InputField(models.Model):
    class Kind(models.TextChoices):
        SHORT_TEXT = "short_text", "Short text"
        LONG_TEXT = "long_text", "Long text"
        CHOICE = "choice", "Choice"
        NUMBER = "number", "Number"

    pickaxe = models.ForeignKey(Pickaxe, on_delete=models.CASCADE, related_name="fields")
    position = models.PositiveSmallIntegerField(default=0)
    label = models.CharField(max_length=80, validators=[single_line])
    key = models.CharField(
        max_length=40,
        validators=[
            RegexValidator(
                r"^[a-z][a-z0-9_]*$",
                "Use lowercase letters, digits and underscores, starting with a letter.",
            )
        ],
        help_text="Used in the template as {{key}}.",
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.SHORT_TEXT)
    required = models.BooleanField(default=True)
    max_length = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(8000)]
    )
    # For a number: the smallest and largest value a run accepts (empty: no bound).
    min_value = models.DecimalField("smallest number", max_digits=15, decimal_places=4, null=True, blank=True)
    max_value = models.DecimalField("largest number", max_digits=15, decimal_places=4, null=True, blank=True)
    choices = models.TextField(blank=True, validators=[lines_of_text], help_text="For a choice: one option per line.")
    help_text = models.CharField(max_length=200, blank=True, validators=[single_line])

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["pickaxe", "key"], name="pickaxe_field_unique_key"),
        ]

    def __str__(self):
        return f"{self.label} ({{{{{self.key}}}}})"

    def choice_list(self):
        return [line.strip() for line in self.choices.splitlines() if line.strip()]


class Run(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"

    class Source(models.TextChoices):
        SITE = "site", "site"
        TEST = "test", "test in the studio"
        EMBED = "embed", "embed"
        API = "api", "API"

    pickaxe = models.ForeignKey(Pickaxe, on_delete=models.CASCADE, related_name="runs")
    payer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="paid_runs")
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="submitted_runs",
        help_text="Who pressed the button (empty for an embed visitor).",
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.SITE)
    submission_key = models.CharField(max_length=64)
    inputs = models.JSONField(default=dict)
    output = models.TextField(blank=True)
    model = models.CharField(max_length=60, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    finish_reason = models.CharField(
        max_length=20, blank=True, help_text='Why the model stopped: "stop", "length" (the output limit), …'
    )
    error = models.CharField(max_length=300, blank=True)
    entry = models.OneToOneField("credits.Entry", on_delete=models.PROTECT, null=True, blank=True, related_name="run")
    refunded = models.BooleanField(default=False)
    own_key = models.BooleanField(default=False, help_text="Ran on the payer's own OpenAI key: no credit spent.")
    started_at = models.DateTimeField()
    # While a run streams, the process driving it keeps pushing this forward; once it is
    # past, nobody is driving the run any more (the process died) and the sweep closes it.
    lease_until = models.DateTimeField(null=True, blank=True)
    first_output_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A chat's message: its conversation, and its place there (1: the first message). Its
    # `inputs` are {"message": text}; its `output`, the answer.
    conversation = models.ForeignKey(
        "Conversation", on_delete=models.CASCADE, null=True, blank=True, related_name="messages"
    )
    position = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["payer", "submission_key"], name="run_unique_submission_per_payer"),
            models.UniqueConstraint(fields=["conversation", "position"], name="run_unique_position_in_conversation"),
        ]
        indexes = [
            models.Index(fields=["pickaxe", "started_at"], name="run_pickaxe_started_idx"),
            models.Index(fields=["payer", "-started_at"], name="run_payer_recent_idx"),
            models.Index(fields=["lease_until"], condition=Q(status="running"), name="run_running_lease_idx"),
            models.Index(fields=["payer", "source", "started_at"], name="run_payer_source_idx"),
        ]

    def __str__(self):
        return f"{self.pickaxe} run {self.pk} ({self.status})"


def new_public_id():
    return secrets.token_urlsafe(16)


class Conversation(models.Model):
    """A chat pickaxe's conversation: its messages are runs (Run.conversation, in order of
    Run.position). Only its `holder` may read or continue it: an opaque key the entry point
    computes (`user:<pk>` on the site and in Test, `embed:<embed pk>:<visitor id>` for an
    embed's visitor, `key:<api key pk>:<end user digest>` through the API). `public_id` is
    the only id that leaves the server: unguessable."""

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    pickaxe = models.ForeignKey(Pickaxe, on_delete=models.CASCADE, related_name="conversations")
    holder = models.CharField(max_length=200)
    source = models.CharField(
        max_length=8, choices=Run.Source.choices, default=Run.Source.SITE
    )  # Run.Source of its first message
    title = models.CharField(max_length=80, blank=True, help_text="Its first message, cut short.")
    # The position of its latest message (how many were sent): the next one takes the next
    # place in one statement (pickaxes.services.start_run).
    last_position = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["holder", "pickaxe", "-updated_at"], name="conversation_holder_idx")]

    def __str__(self):
        return self.title or self.public_id
