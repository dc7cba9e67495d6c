"""The model layer, driven through the real openai SDK against a local fake OpenAI server."""

import asyncio
import socket
import time

import pytest

from pickaxes import llm
from pickaxes.llm import ModelError

REQUEST = {
    "model": "gpt-4o-mini",
    "system": "You write short product names.",
    "prompt": "Name a coffee shop for cats.",
    "temperature": 0.7,
    "max_tokens": 200,
}


def run(**overrides):
    """Iterate one completion to its end; return the pieces and the finished completion."""
    completion = llm.start_completion(**{**REQUEST, **overrides})

    async def collect():
        async with completion:
            return [piece async for piece in completion]

    return asyncio.run(collect()), completion


def run_until_error(**overrides):
    """Iterate one completion that must fail; return the pieces before the error, and it."""
    completion = llm.start_completion(**{**REQUEST, **overrides})
    pieces = []

    async def collect():
        async with completion:
            async for piece in completion:
                pieces.append(piece)

    with pytest.raises(ModelError) as failure:
        asyncio.run(collect())
    return pieces, failure.value


def test_streamed_text_arrives_in_pieces_and_joins_to_the_reply(fake_openai):
    fake_openai.reply = "Purrfect Brew: a café where every latte comes with a nap."

    pieces, completion = run()

    assert len(pieces) > 3
    assert "".join(pieces) == fake_openai.reply
    assert completion.is_demo is False


def test_pieces_are_yielded_as_they_arrive_not_at_the_end(fake_openai):
    fake_openai.reply = "one two three four"
    fake_openai.chunk_delay = 0.15
    arrivals = []

    async def collect():
        async with llm.start_completion(**REQUEST) as completion:
            async for _ in completion:
                arrivals.append(time.monotonic())

    asyncio.run(collect())

    assert len(arrivals) == 4
    assert arrivals[-1] - arrivals[0] >= 0.3


def test_usage_tokens_and_the_model_actually_used_are_reported(fake_openai):
    fake_openai.reply = "Whisker Beans"
    fake_openai.response_model = "gpt-4o-mini-2024-07-18"

    _, completion = run()

    # The fake counts words: 5 in the system message + 6 in the prompt; 2 pieces back.
    assert completion.prompt_tokens == 11
    assert completion.completion_tokens == 2
    assert completion.model_label == "gpt-4o-mini-2024-07-18"


def test_request_sends_system_and_user_messages_and_asks_for_usage(fake_openai):
    run()

    [request] = fake_openai.requests
    assert request["path"] == "/v1/chat/completions"
    body = request["json"]
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == [
        {"role": "system", "content": REQUEST["system"]},
        {"role": "user", "content": REQUEST["prompt"]},
    ]
    assert body["temperature"] == 0.7
    assert body["max_tokens"] == 200
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_platform_key_is_sent_by_default(fake_openai):
    run()

    assert fake_openai.requests[0]["headers"]["authorization"] == "Bearer sk-test-platform"


def test_own_api_key_replaces_the_platform_key(fake_openai):
    _, completion = run(api_key="sk-own-user-key")

    assert fake_openai.requests[0]["headers"]["authorization"] == "Bearer sk-own-user-key"
    assert completion.is_demo is False


def test_server_error_status_raises_model_error_without_retrying(fake_openai):
    fake_openai.error_status = 500

    pieces, error = run_until_error()

    assert pieces == []
    assert error.message == "The model service answered with an error (HTTP 500)."
    assert len(fake_openai.requests) == 1


def test_refused_key_raises_model_error_saying_so(fake_openai):
    fake_openai.valid_keys = {"sk-test-platform"}

    _, error = run_until_error(api_key="sk-revoked")

    assert error.message == "The API key was refused by the model service."


def test_quota_exhausted_is_told_apart_from_being_busy(fake_openai):
    fake_openai.error_status = 429
    fake_openai.error_code = "insufficient_quota"

    _, error = run_until_error()

    assert error.message == "The API key has no quota left at the model service."


def test_connection_dropped_mid_stream_raises_after_some_text(fake_openai):
    fake_openai.reply = "one two three four five six"
    fake_openai.drop_after_chunks = 2

    pieces, error = run_until_error()

    assert "".join(pieces) == "one two"
    assert error.message == "The connection to the model was lost."


def test_stall_longer_than_the_timeout_raises(fake_openai, settings):
    settings.OPENAI_TIMEOUT_SECONDS = 0.5
    fake_openai.reply = "one two three"
    fake_openai.stall_after_chunks = 1
    fake_openai.stall_seconds = 5

    started = time.monotonic()
    pieces, error = run_until_error()

    assert pieces == ["one"]
    assert error.message == "The model took too long to answer."
    assert time.monotonic() - started < 1.5


def test_short_pause_within_the_timeout_is_not_an_error(fake_openai, settings):
    settings.OPENAI_TIMEOUT_SECONDS = 0.5
    fake_openai.reply = "one two three"
    fake_openai.stall_after_chunks = 1
    fake_openai.stall_seconds = 0.2

    pieces, _ = run()

    assert "".join(pieces) == "one two three"


def test_unreachable_server_raises_model_error(settings):
    with socket.socket() as probe:  # a port that was free a moment ago, now closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.OPENAI_API_KEY = "sk-test-platform"
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{port}/v1"

    _, error = run_until_error()

    assert error.message == "The model service could not be reached."


def test_stopping_early_closes_the_stream_at_once(fake_openai):
    fake_openai.reply = " ".join(["word"] * 50)
    fake_openai.chunk_delay = 0.02

    async def read_one_piece_then_wait_for_the_server():
        async with llm.start_completion(**REQUEST) as completion:
            async for piece in completion:  # noqa: B007  (returned below)
                break
        # Still inside the event loop: the close came from leaving `async with`, not
        # from asyncio.run() finalising the generator on its way out.
        for _ in range(50):
            if fake_openai.requests[0]["outcome"] is not None:
                break
            await asyncio.sleep(0.02)
        return piece

    assert asyncio.run(read_one_piece_then_wait_for_the_server()) == "word"
    assert fake_openai.requests[0]["outcome"] == "client gone"


def test_is_demo_when_the_platform_has_no_key(settings):
    settings.OPENAI_API_KEY = ""
    assert llm.is_demo() is True
    settings.OPENAI_API_KEY = "sk-test-platform"
    assert llm.is_demo() is False


def test_demo_model_answers_without_any_request_and_counts_the_prompt_without_repeating_it(fake_openai, settings):
    settings.OPENAI_API_KEY = ""
    settings.DEMO_MODEL_DELAY_SECONDS = 0

    pieces, completion = run(prompt="Name a coffee shop for cats.")
    again, _ = run(prompt="Name a coffee shop for cats.")
    other, _ = run(prompt="Write a haiku about submarines.")

    text = "".join(pieces)
    assert len(pieces) > 10  # word by word
    assert text.startswith("## ")
    assert "6 words on 1 line" in text
    assert not {"coffee", "shop", "cats"} & set(text.lower().replace(".", " ").split())
    assert "\n- " in text
    assert again == pieces
    assert "".join(other) != text
    assert completion.is_demo is True
    assert completion.model_label == "demo"
    assert completion.prompt_tokens == 11
    assert completion.completion_tokens == len(pieces)
    assert fake_openai.requests == []


def test_demo_model_is_not_used_when_an_own_key_is_given(fake_openai, settings):
    settings.OPENAI_API_KEY = ""

    pieces, completion = run(api_key="sk-own-user-key")

    assert completion.is_demo is False
    assert "".join(pieces) == fake_openai.reply
    assert len(fake_openai.requests) == 1


def test_the_answers_events_are_read_across_chunk_boundaries_and_line_endings():
    async def pieces():
        yield b'data: {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}\r\n\r\nda'
        yield b'ta: {"choices": [{"index": 0, "delta": {"content": "lo"}}]}\n\n: a comment\n\n'
        yield b"data: [DONE]\n\n"

    async def read():
        return [chunk async for chunk in llm._json_events(pieces())]

    chunks = asyncio.run(read())
    assert [chunk["choices"][0]["delta"]["content"] for chunk in chunks] == ["Hel", "lo"]


def test_an_event_that_is_not_a_json_object_is_unreadable():
    async def pieces():
        yield b"data: [1, 2]\n\n"

    async def read():
        return [chunk async for chunk in llm._json_events(pieces())]

    with pytest.raises(ValueError):
        asyncio.run(read())
