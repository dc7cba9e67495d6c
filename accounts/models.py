"""People who use the site: email is the login, there are no usernames."""

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone

from accounts import plans
from accounts.validators import single_line


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if not extra_fields["is_staff"] or not extra_fields["is_superuser"]:
            raise ValueError("A superuser must have is_staff and is_superuser set.")
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, email):
        return self.get(email__iexact=email)


class User(AbstractBaseUser, PermissionsMixin):
    class Plan(models.TextChoices):
        FREE = plans.FREE.code, plans.FREE.name
        GOLD = plans.GOLD.code, plans.GOLD.name

    email = models.EmailField("email address", unique=True)
    name = models.CharField(max_length=150, blank=True, validators=[single_line])
    is_staff = models.BooleanField(default=False, help_text="Can log in to the admin site.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    plan = models.CharField(
        max_length=8,
        choices=Plan.choices,
        default=Plan.FREE,
        help_text="Written by billing from the user's subscriptions (or by staff there).",
    )

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        ordering = ["email"]

    def __str__(self):
        return self.email

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email)

    def get_full_name(self):
        return self.name or self.email

    def get_short_name(self):
        return self.name or self.email.split("@")[0]

    @property
    def is_gold(self):
        return self.plan == self.Plan.GOLD


class OwnApiKey(models.Model):
    """A user's own OpenAI API key, encrypted at rest (see accounts.crypto). Only a Gold
    user's key is used; it stays stored, unused, when Gold ends."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="own_api_key")
    ciphertext = models.TextField()
    last4 = models.CharField(max_length=4)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "own OpenAI key"

    def __str__(self):
        return f"key …{self.last4} of {self.user}"

    @property
    def masked(self):
        return f"sk-…{self.last4}"


class OutgoingEmail(models.Model):
    """An email to one user, written in the transaction that decides it and sent by a task
    (accounts.tasks.send_email), so a mail server that is down delays it and never fails
    the request. `key` names the occasion ("payment-failed:evt_…"): one email per occasion.
    `sent_at` is set in the same transaction as the send, so a task that runs twice sends once.
    """

    key = models.CharField(max_length=200, unique=True)
    to = models.EmailField()
    subject = models.CharField(max_length=300)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.subject} → {self.to}"
