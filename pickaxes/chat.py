"""What a chat pickaxe's model is sent for one message: bounded, whatever the conversation's length.

One credit buys one message, so one message must never buy an unbounded prompt: the model
is sent the hidden instructions, the opening message (as the assistant's first message),
then the conversation's earlier answered messages, newest kept first, as many as fit in
RUN_PROMPT_MAX_CHARS together with the instructions and the new message, then the new
message. The history is read with a LIMIT (HISTORY_MESSAGES), so a conversation's 50th
message costs the server no more than its 2nd.
"""

from dataclasses import dataclass

from django.conf import settings

from pickaxes.models import Run

# The most earlier messages one message reads back (and may send): the prompt's size
# limit usually stops sooner.
HISTORY_MESSAGES = 20


@dataclass(frozen=True)
class Prompt:
    """The message list a chat's message sends to the model, and whether earlier messages
    of the conversation had to be left out (`forgotten`: the page says so)."""

    messages: list
    forgotten: bool = False


def message_problem(text):
    """Why a chat message cannot be sent (empty, or longer than RUN_INPUT_MAX_CHARS), or ""."""
    cap = settings.RUN_INPUT_MAX_CHARS
    if not text.strip():
        return "Type a message first."
    if len(text) > cap:
        return f"The message has {len(text):,} characters; this chat takes at most {cap:,}. Shorten it."
    return ""


def build_prompt(*, pickaxe, earlier, message):
    """The Prompt for `message`, given the conversation's `earlier` answered messages as
    (message, answer) pairs, newest first (more of them than fit is fine)."""
    head = [{"role": "system", "content": pickaxe.system_instructions}]
    if pickaxe.opening_message:
        head.append({"role": "assistant", "content": pickaxe.opening_message})
    kept = earlier[: fitting(pickaxe=pickaxe, earlier=earlier, message=message)]
    turns = []
    for asked, answered in reversed(kept):
        turns += [{"role": "user", "content": asked}, {"role": "assistant", "content": answered}]
    return Prompt(messages=[*head, *turns, {"role": "user", "content": message}], forgotten=len(kept) < len(earlier))


def fitting(*, pickaxe, earlier, message):
    """How many of the `earlier` (message, answer) pairs, newest first, fit in the prompt
    beside the instructions, the opening message and `message` (at most HISTORY_MESSAGES)."""
    budget = settings.RUN_PROMPT_MAX_CHARS - len(pickaxe.system_instructions) - len(pickaxe.opening_message)
    budget -= len(message)
    count = 0
    for asked, answered in earlier[:HISTORY_MESSAGES]:
        budget -= len(asked) + len(answered)
        if budget < 0:
            break
        count += 1
    return count


def earlier_messages(run):
    """The answered messages before `run` in its conversation, newest first, as (message,
    answer) pairs: at most HISTORY_MESSAGES + 1 (one more than is ever sent, so a prompt
    that had to leave the earliest out knows it). One query."""
    rows = (
        Run.objects.filter(conversation_id=run.conversation_id, position__lt=run.position)
        .exclude(output="")
        .order_by("-position")
        .values_list("inputs", "output")[: HISTORY_MESSAGES + 1]
    )
    return [(message_text(inputs), output) for inputs, output in rows]


def prompt_for(run):
    """The Prompt a chat message's run sends (one query for its history)."""
    return build_prompt(pickaxe=run.pickaxe, earlier=earlier_messages(run), message=message_text(run.inputs))


def message_text(inputs):
    """A message's text, from its run's `inputs`."""
    return str((inputs or {}).get("message", "")) if isinstance(inputs, dict) else ""


def site_holder(user):
    """Who holds a conversation started on the site or in Test: the signed-in person."""
    return f"user:{user.pk}"


def title_for(message):
    """A conversation's title: its first message, on one line, cut to 80 characters."""
    line = " ".join(message.split())
    return line if len(line) <= 80 else line[:79].rstrip() + "…"
