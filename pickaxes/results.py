"""What a page shows when a run ends or is refused: one display object for the site, the
studio's Test button and embeds, sent as the stream's `end` event or rendered into the page."""

from dataclasses import dataclass

from django.template.defaultfilters import date as format_date
from django.urls import reverse
from django.utils import timezone

from pickaxes import llm
from pickaxes.models import Run
from pickaxes.output import render_output

VISITOR_FAILURE = "This tool could not finish its answer. Please try again in a moment."


@dataclass(frozen=True)
class RunResult:
    ok: bool
    output_html: str = ""
    message: str = ""
    refunded: bool = False
    balance: int | None = None
    demo: bool = False
    billing_url: str = ""
    login_url: str = ""
    notice: str = ""  # about an answer that ended early on purpose (the output limit)
    run_id: int | None = None
    visitor_safe: bool = False  # the message may be shown to an embed visitor as it is
    conversation: str = ""  # a chat message's: its conversation's public id
    forgotten: bool = False  # a chat message's: the earliest messages were no longer sent

    def for_visitor(self):
        """What an embed's visitor may see: no balance, no billing, no account details."""
        message = self.message
        if message and not self.ok and not self.visitor_safe:
            message = VISITOR_FAILURE
        return RunResult(
            ok=self.ok,
            output_html=self.output_html,
            notice=self.notice,
            message=message,
            demo=self.demo,
            run_id=self.run_id,
            visitor_safe=True,
            conversation=self.conversation,
            forgotten=self.forgotten,
        )

    def as_event(self):
        return {
            "ok": self.ok,
            "html": str(self.output_html),
            "message": self.message,
            "refunded": self.refunded,
            "balance": self.balance,
            "demo": self.demo,
            "billing_url": self.billing_url,
            "login_url": self.login_url,
            "notice": self.notice,
            "conversation": self.conversation,
            "forgotten": self.forgotten,
        }


def ended(run, *, balance):
    """A run that has ended (or a repeated submission of one), as its payer sees it."""
    demo = run.model == llm.DEMO_LABEL
    html = render_output(run.output)
    conversation = run.conversation.public_id if run.conversation_id else ""
    if run.status == Run.Status.SUCCEEDED:
        return RunResult(
            ok=True,
            output_html=html,
            balance=balance,
            demo=demo,
            run_id=run.pk,
            notice=_stopped_early(run),
            conversation=conversation,
        )
    if run.status == Run.Status.RUNNING and run.conversation_id:
        message = "This message was already sent and is still being answered; reload the chat in a moment."
    elif run.status == Run.Status.RUNNING:
        message = "This form was already submitted and is still running; see your account page for the result."
    elif run.own_key:
        message = f"Your own OpenAI key: {run.error} Runs on your own key never use credits."
    elif run.refunded:
        message = f"{run.error} You were not charged for this run."
    else:
        message = f"{run.error} The output so far is kept, and the run was charged."
    return RunResult(
        ok=False,
        output_html=html,
        message=message,
        refunded=run.refunded,
        balance=balance,
        demo=demo,
        run_id=run.pk,
        conversation=conversation,
    )


def not_recorded(output):
    """A run whose end could not be recorded (the database was away): its answer so far,
    and where to see how it was closed."""
    return RunResult(
        ok=False,
        output_html=render_output(output),
        message="This answer could not be saved just now. Your account page shows how the run ended "
        "in a minute; a run that produced no output is not charged.",
    )


def _stopped_early(run):
    """What to say about an answer the model ended on purpose before it was done."""
    if run.finish_reason in ("", "stop"):
        return ""
    if run.finish_reason == "length":
        return "Stopped at the length limit."
    return f"The model stopped early ({run.finish_reason})."


def out_of_credits(next_return_at):
    """The payer pressed Submit with nothing to spend."""
    message = "You are out of credits."
    if next_return_at:
        when = format_date(timezone.localtime(next_return_at), "j M \\a\\t H:i T")
        message = f"You are out of credits. Your next credit comes back on {when}."
    return RunResult(ok=False, message=message, balance=0, billing_url=reverse("billing"))


def own_key_unreadable():
    """The payer's saved own key can no longer be read; the run was refused, uncharged."""
    return RunResult(
        ok=False,
        message="Your saved OpenAI key can no longer be read; save it again on your account page. "
        "You were not charged for this run.",
        refunded=False,
    )


def refused(message):
    """A run refused before anything was charged, with a message fit for anyone."""
    return RunResult(ok=False, message=message, visitor_safe=True)


def log_in_first(login_url):
    return RunResult(ok=False, message="Log in to run this pickaxe.", login_url=login_url, visitor_safe=True)


def form_errors(form):
    """A form that did not validate, as one line for the stream (the page shows field errors)."""

    def label(name):
        field = form.fields.get(name)
        return f"{field.label}: " if field is not None and field.label and not field.widget.is_hidden else ""

    text = " ".join(f"{label(name)}{' '.join(errors)}" for name, errors in form.errors.items())
    return refused(f"Check the form: {text}")
