import factory

from pickaxes import services
from pickaxes.models import InputField, Pickaxe
from tests.factories import UserFactory


class PickaxeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pickaxe
        skip_postgeneration_save = True

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Tool {n}")
    slug = factory.Sequence(lambda n: f"tool-{n}")
    description = "Writes a short poem."
    visibility = Pickaxe.Visibility.PUBLIC
    system_instructions = "Be brief."
    prompt_template = "Write about {{topic}}."
    model = "gpt-4o-mini"

    @factory.post_generation
    def with_topic_field(obj, create, extracted, **kwargs):
        if create and extracted is not False:
            InputField.objects.create(pickaxe=obj, label="Topic", key="topic", max_length=200)


def open_run(pickaxe, payer, key, *, source="site", inputs=None):
    """A run started as its entry point starts it (the charge and the Run row), with no
    model called: tests then finish, fail or sweep it."""
    started = services.start_run(
        pickaxe=pickaxe,
        payer=payer,
        submitted_by=None if source == "embed" else payer,
        inputs=inputs if inputs is not None else {"topic": "x"},
        submission_key=key,
        source=source,
    )
    return started.run


class ChatPickaxeFactory(PickaxeFactory):
    """A chat pickaxe: hidden instructions, an opening message, starters; no fields."""

    kind = Pickaxe.Kind.CHAT
    name = factory.Sequence(lambda n: f"Chat {n}")
    slug = factory.Sequence(lambda n: f"chat-{n}")
    system_instructions = "You are a patient tutor."
    prompt_template = ""
    opening_message = "Hi! What are you learning today?"
    starters = "Quiz me on French verbs\nExplain photosynthesis"

    @factory.post_generation
    def with_topic_field(obj, create, extracted, **kwargs):
        pass  # a chat has no fields


def send_message(pickaxe, user, message, key, *, conversation=None, testing=False):
    """A chat message started as the site starts it (charged, its Run written), with no
    model called."""
    return services.start_site_message(
        pickaxe=pickaxe, user=user, message=message, submission_key=key, conversation=conversation, testing=testing
    )
