"""Charging through the views (README: "Credit rules", "Who pays"), with a fake model server."""

import pytest

from credits import selectors as credits
from credits import services as credit_services
from pickaxes.models import Run
from tests.pickaxes.conftest import post_run, post_run_streamed, submission_key


@pytest.fixture
def signed_in(client, make_user):
    user = make_user()
    client.force_login(user)
    return user


def test_one_credit_per_run_the_submitter_pays_never_the_owner(client, signed_in, pickaxe, fake_openai):
    response = post_run(client, pickaxe)
    assert response.status_code == 200
    assert "Hello from the fake model" in response.content.decode()
    assert credits.balance(signed_in) == 24
    assert credits.balance(pickaxe.owner) == 25
    run = Run.objects.get()
    assert (run.payer, run.submitted_by, run.status, run.source) == (signed_in, signed_in, "succeeded", "site")
    assert run.entry.amount == -1 and run.completion_tokens and run.latency_ms is not None


def test_test_button_charges_the_owner(client, pickaxe, fake_openai):
    client.force_login(pickaxe.owner)
    response = post_run(client, pickaxe, mode="test")
    assert response.status_code == 200
    assert credits.balance(pickaxe.owner) == 24
    assert Run.objects.get().source == "test"


def test_only_the_owner_can_test(client, signed_in, pickaxe, fake_openai):
    response = post_run(client, pickaxe, mode="test")
    assert response.status_code == 403
    assert credits.balance(signed_in) == 25 and not Run.objects.exists()


def test_refund_a_model_error_before_output_refunds_and_says_so(client, signed_in, pickaxe, fake_openai):
    fake_openai.error_status = 500
    html = post_run(client, pickaxe).content.decode()
    assert "not charged" in html and 'data-testid="run-error"' in html
    run = Run.objects.get()
    assert (run.status, run.refunded) == ("failed", True)
    assert credits.balance(signed_in) == 25


def test_refund_a_stall_past_the_timeout_refunds(client, signed_in, pickaxe, fake_openai, settings):
    settings.OPENAI_TIMEOUT_SECONDS = 0.3
    fake_openai.stall_after_chunks, fake_openai.stall_seconds = 0, 2
    html = post_run(client, pickaxe).content.decode()
    assert "took too long" in html and "not charged" in html
    assert credits.balance(signed_in) == 25


def test_refund_a_refused_platform_key_refunds(client, signed_in, pickaxe, fake_openai):
    fake_openai.valid_keys = {"sk-some-other-key"}
    post_run(client, pickaxe)
    assert Run.objects.get().refunded
    assert credits.balance(signed_in) == 25


def test_a_stream_that_breaks_after_some_output_is_charged(client, signed_in, pickaxe, fake_openai):
    fake_openai.drop_after_chunks = 3
    html = post_run(client, pickaxe).content.decode()
    run = Run.objects.get()
    assert (run.status, run.refunded) == ("failed", False)
    assert run.output == "Hello from the"
    assert "was charged" in html
    assert credits.balance(signed_in) == 24


def test_idempotency_the_same_submission_key_twice_charges_once(client, signed_in, pickaxe, fake_openai):
    key = submission_key(client, pickaxe)
    first = post_run(client, pickaxe, key=key)
    again = post_run(client, pickaxe, key=key)
    assert first.status_code == again.status_code == 200
    assert "Hello from the fake model" in again.content.decode()
    assert Run.objects.count() == 1 and len(fake_openai.requests) == 1
    assert credits.balance(signed_in) == 24


def test_no_credit_no_output_out_of_credits_calls_nothing(client, signed_in, pickaxe, fake_openai):
    credit_services.set_allowance(signed_in, 0, reason="test")
    html = post_run(client, pickaxe).content.decode()
    assert "You are out of credits" in html and 'href="/billing/"' in html
    assert fake_openai.requests == [] and not Run.objects.exists()


def test_no_credit_no_output_refusal_says_when_the_next_credit_comes_back(client, signed_in, pickaxe, fake_openai):
    credit_services.set_allowance(signed_in, 1, reason="test")
    post_run(client, pickaxe)
    html = post_run(client, pickaxe).content.decode()
    assert "Your next credit comes back on" in html
    assert len(fake_openai.requests) == 1


def test_bad_input_gets_the_form_back_and_charges_nothing(client, signed_in, pickaxe, fake_openai):
    response = post_run(client, pickaxe, topic="")
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    response = post_run(client, pickaxe, topic="x" * 201)
    assert response.status_code == 400
    assert credits.balance(signed_in) == 25 and not fake_openai.requests


def test_a_forged_submission_key_is_refused(client, signed_in, pickaxe, fake_openai):
    assert post_run(client, pickaxe, key="short").status_code == 400
    assert not Run.objects.exists()


def test_anonymous_submit_goes_to_log_in_and_comes_back_to_the_same_form(client, make_user, pickaxe, fake_openai):
    response = post_run(client, pickaxe, topic="lighthouses")
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next=/p/{pickaxe.slug}/"
    assert not Run.objects.exists()
    user = make_user()
    client.force_login(user)
    html = client.get(f"/p/{pickaxe.slug}/").content.decode()
    assert 'value="lighthouses"' in html
    # Shown once: the next visit starts blank.
    assert 'value="lighthouses"' not in client.get(f"/p/{pickaxe.slug}/").content.decode()


def test_private_pickaxes_are_only_for_their_owner(client, signed_in, pickaxe, fake_openai):
    pickaxe.visibility = "private"
    pickaxe.save()
    assert client.get(f"/p/{pickaxe.slug}/").status_code == 404
    assert client.post(f"/p/{pickaxe.slug}/run/", {"topic": "x"}).status_code == 404
    client.force_login(pickaxe.owner)
    assert client.get(f"/p/{pickaxe.slug}/").status_code == 200


def test_user_input_is_substituted_literally_never_evaluated(client, signed_in, pickaxe, fake_openai):
    post_run(client, pickaxe, topic='{{topic}} {% now "Y" %} {{ secret }}')
    prompt = fake_openai.requests[0]["json"]["messages"][-1]["content"]
    assert prompt == 'Write about {{topic}} {% now "Y" %} {{ secret }}.'


def test_model_output_is_sanitised(client, signed_in, pickaxe, fake_openai):
    fake_openai.reply = (
        'Hi <script>alert(1)</script> <img src=x onerror="alert(2)"> '
        '[click](javascript:alert(3)) <a href="javascript:alert(4)">x</a> **bold**'
    )
    html = post_run(client, pickaxe).content.decode()
    output = html[html.index('data-testid="run-output"') :]
    output = output[: output.index("</section>")]
    assert "<script" not in output and "onerror" not in output and "javascript:" not in output
    assert "<strong>bold</strong>" in output


def test_streamed_run_sends_the_output_so_far_as_it_arrives_then_the_result(signed_in, pickaxe, fake_openai, settings):
    settings.RUN_PROGRESS_EVERY_SECONDS = 0.05
    fake_openai.chunk_delay = 0.03
    response, events = post_run_streamed(signed_in, pickaxe, {"topic": "x", "submission_key": "k" * 20})
    assert response["Content-Type"] == "text/event-stream"
    shown = [data for name, data in events if name == "output"]
    assert len(shown) >= 2 and "Hello" in shown[0]["add"] + shown[0]["tail"]
    name, end = events[-1]
    assert name == "end" and end["ok"] and end["balance"] == 24
    assert "Hello from the fake model" in end["html"]


def test_idempotency_streamed_replay_of_a_finished_submission_charges_once(signed_in, pickaxe, fake_openai):
    data = {"topic": "x", "submission_key": "same-key-123456789"}
    post_run_streamed(signed_in, pickaxe, data)
    _, events = post_run_streamed(signed_in, pickaxe, data)
    assert [name for name, _ in events] == ["end"]
    assert credits.balance(signed_in) == 24 and len(fake_openai.requests) == 1


def test_streamed_refusal_when_out_of_credits(signed_in, pickaxe, fake_openai):
    credit_services.set_allowance(signed_in, 0, reason="test")
    _, events = post_run_streamed(signed_in, pickaxe, {"topic": "x", "submission_key": "k" * 20})
    assert events == [("end", events[0][1])]
    assert "out of credits" in events[0][1]["message"] and events[0][1]["billing_url"] == "/billing/"
    assert not fake_openai.requests


def test_demo_model_without_a_key_is_labelled_demo(client, signed_in, pickaxe, settings):
    settings.OPENAI_API_KEY = ""
    settings.DEMO_MODEL_DELAY_SECONDS = 0
    html = post_run(client, pickaxe).content.decode()
    assert '<span class="badge" title="Answered by the offline demo model">demo</span>' in html
    assert Run.objects.get().model == "demo"
    assert credits.balance(signed_in) == 24
