"""Every way a model stream can end, against the fake OpenAI server (the
refund rule): the run's status, the ledger, and what the person who pressed Submit reads.

A run that ends with no output is never charged; one cut off after some output is
charged and says so; the model ending on purpose early (its length limit) is an answer.
"""

import pytest

from credits import selectors as credits
from pickaxes.models import Run
from tests.pickaxes.conftest import post_run

NOT_CHARGED = "You were not charged for this run."
CHARGED = "The output so far is kept, and the run was charged."


@pytest.fixture
def signed_in(client, make_user):
    user = make_user()
    client.force_login(user)
    return user


def outcome(client, pickaxe):
    html = post_run(client, pickaxe).content.decode()
    return html, Run.objects.get()


def test_a_clean_end_with_no_finish_reason_before_any_text_is_refunded(client, signed_in, pickaxe, fake_openai):
    fake_openai.end_after_chunks = 0
    html, run = outcome(client, pickaxe)
    assert (run.status, run.refunded, run.output) == ("failed", True, "")
    assert "cut off before the model finished" in html and NOT_CHARGED in html
    assert credits.balance(signed_in) == 25


def test_a_clean_end_with_no_finish_reason_after_some_text_is_cut_off_and_charged(
    client, signed_in, pickaxe, fake_openai
):
    fake_openai.end_after_chunks = 2
    html, run = outcome(client, pickaxe)
    assert (run.status, run.refunded, run.output) == ("failed", False, "Hello from")
    assert "cut off before the model finished" in html and CHARGED in html
    assert 'data-testid="run-output"' in html
    assert credits.balance(signed_in) == 24


def test_the_length_finish_reason_is_an_answer_stopped_at_the_length_limit(client, signed_in, pickaxe, fake_openai):
    fake_openai.finish_reason = "length"
    html, run = outcome(client, pickaxe)
    assert (run.status, run.finish_reason) == ("succeeded", "length")
    assert 'data-testid="run-notice">Stopped at the length limit.' in html
    assert credits.balance(signed_in) == 24


def test_a_finished_answer_with_no_text_at_all_is_never_charged(client, signed_in, pickaxe, fake_openai):
    fake_openai.reply = ""
    html, run = outcome(client, pickaxe)
    assert (run.status, run.refunded) == ("failed", True)
    assert "empty answer" in html and NOT_CHARGED in html
    assert credits.balance(signed_in) == 25


def test_an_unreadable_event_before_any_text_is_refunded(client, signed_in, pickaxe, fake_openai):
    fake_openai.unreadable_after_chunks = 0
    html, run = outcome(client, pickaxe)
    assert (run.status, run.refunded) == ("failed", True)
    assert "could not be read" in html and NOT_CHARGED in html
    assert credits.balance(signed_in) == 25


def test_an_unreadable_event_after_some_text_keeps_the_text_and_charges(client, signed_in, pickaxe, fake_openai):
    fake_openai.unreadable_after_chunks = 3
    html, run = outcome(client, pickaxe)
    assert (run.status, run.refunded, run.output) == ("failed", False, "Hello from the")
    assert "could not be read" in html and CHARGED in html
    assert credits.balance(signed_in) == 24


def test_a_dropped_connection_before_any_text_is_refunded(client, signed_in, pickaxe, fake_openai):
    fake_openai.drop_after_chunks = 0
    html, run = outcome(client, pickaxe)
    assert (run.status, run.refunded) == ("failed", True)
    assert NOT_CHARGED in html
    assert credits.balance(signed_in) == 25


@pytest.mark.parametrize("status", [400, 404, 429, 500, 503])
def test_an_http_error_before_any_text_is_refunded(client, signed_in, pickaxe, fake_openai, status):
    fake_openai.error_status = status
    html, run = outcome(client, pickaxe)
    assert (run.status, run.refunded, run.output) == ("failed", True, "")
    assert NOT_CHARGED in html and 'data-testid="run-error"' in html
    assert credits.balance(signed_in) == 25
