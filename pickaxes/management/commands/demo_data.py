"""Creates the demo creator, three public form pickaxes and a public chat (`study-buddy`), and with DEBUG on a staff account
for the admin; prints how to sign in to each (idempotent: run again, it brings the demo
pickaxes' fields up to date and makes nothing twice)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import plans
from pickaxes.models import InputField, Pickaxe

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-pickaxe-2026"
# Made only with DEBUG on: a known password must never open a production admin.
STAFF_EMAIL = "staff@example.com"
STAFF_PASSWORD = "staff-pickaxe-2026"

Kind = InputField.Kind
PICKAXES = [
    {
        "slug": "cold-email-writer",
        "name": "Cold email writer",
        "description": "A short, friendly first email to a prospect, in the tone you pick.",
        "system_instructions": "You write concise, warm sales emails. No clichés, no pressure. Under 150 words.",
        "prompt_template": "Write a first email to {{recipient}} about {{offer}}. Tone: {{tone}}.",
        "fields": [
            {
                "label": "Who is it for?",
                "key": "recipient",
                "kind": Kind.SHORT_TEXT,
                "max_length": 120,
                "help_text": "A role and a company, e.g. the head of IT at a law firm",
            },
            {"label": "What are you offering?", "key": "offer", "kind": Kind.LONG_TEXT, "max_length": 1000},
            {"label": "Tone", "key": "tone", "kind": Kind.CHOICE, "choices": "Friendly\nFormal\nPlayful"},
        ],
    },
    {
        "slug": "explain-like-im-new",
        "name": "Explain it simply",
        "description": "Any topic explained in plain words, at the depth you choose.",
        "system_instructions": "You explain things clearly with everyday examples. Use Markdown headings and lists.",
        "prompt_template": "Explain {{topic}} to someone new to it, in about {{words}} words.",
        "fields": [
            {"label": "Topic", "key": "topic", "kind": Kind.SHORT_TEXT, "max_length": 200},
            {
                "label": "Length in words",
                "key": "words",
                "kind": Kind.NUMBER,
                "min_value": 50,
                "max_value": 600,
                "help_text": "50 to 600",
            },
        ],
    },
    {
        "slug": "meeting-notes-to-actions",
        "name": "Meeting notes to action items",
        "description": "Paste rough notes; get a clean list of who does what by when.",
        "system_instructions": "You turn messy notes into a Markdown checklist: owner, task, due date if known.",
        "prompt_template": "Turn these meeting notes into action items:\n\n{{notes}}",
        "fields": [
            {"label": "Meeting notes", "key": "notes", "kind": Kind.LONG_TEXT, "max_length": 6000},
        ],
    },
    {
        "slug": "study-buddy",
        "name": "Study buddy",
        "kind": Pickaxe.Kind.CHAT,
        "description": "Tell it what you are learning; it quizzes you, one question at a time.",
        "system_instructions": (
            "You are a friendly study partner. First find out what the person is learning and at what level. "
            "Then quiz them one short question at a time, wait for their answer, say whether it is right and "
            "why in a sentence or two, and ask the next question. Get harder as they get answers right."
        ),
        "prompt_template": "",
        "opening_message": "Hi! I'm your study buddy. What are you learning at the moment? "
        "Tell me the subject and your level, and I'll quiz you on it.",
        "starters": "Quiz me on French verbs\nI'm learning the periodic table\nTest me on World War II dates\n"
        "Ask me about photosynthesis",
        "fields": [],
    },
]


class Command(BaseCommand):
    help = "Create the demo creator account, its three public form pickaxes and its public chat (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        creator, created = User.objects.get_or_create(email=DEMO_EMAIL, defaults={"name": "Demo Creator"})
        if created:
            creator.set_password(DEMO_PASSWORD)
            creator.save(update_fields=["password"])
        for spec in PICKAXES:
            spec = dict(spec)
            fields = spec.pop("fields")
            pickaxe, made = Pickaxe.objects.get_or_create(
                slug=spec.pop("slug"),
                defaults={
                    **spec,
                    "owner": creator,
                    "visibility": Pickaxe.Visibility.PUBLIC,
                    "model": settings.PICKAXE_MODELS[0],
                },
            )
            if made:
                for position, field in enumerate(fields):
                    InputField.objects.create(pickaxe=pickaxe, position=position, **field)
            else:
                # A database made by an earlier version gets today's rules (bounds, lengths)
                # for the fields it still has; nothing else of the pickaxe is touched.
                for field in fields:
                    InputField.objects.filter(pickaxe=pickaxe, key=field["key"]).update(**field)
        if settings.DEBUG:
            staff, created = User.objects.get_or_create(
                email=STAFF_EMAIL, defaults={"name": "Demo Staff", "is_staff": True, "is_superuser": True}
            )
            if created:
                staff.set_password(STAFF_PASSWORD)
                staff.save(update_fields=["password"])
            admin = f"log in as {STAFF_EMAIL} / {STAFF_PASSWORD} (a superuser made for development only)"
        else:
            admin = "make a staff account with `.venv/bin/python manage.py createsuperuser`"
        self.stdout.write(
            self.style.SUCCESS(
                f"\nDemo data ready.\n"
                f"  Site:  http://127.0.0.1:8000/ : log in as {DEMO_EMAIL} / {DEMO_PASSWORD}, or sign up "
                f"with your own email ({plans.FREE.allowance} free credits).\n"
                f"  Admin: http://127.0.0.1:8000/admin/ : {admin}.\n"
            )
        )
