"""Talks to the language model.

`start_completion(...)` returns a `Completion`: iterate it with `async for` to receive the
answer's text as the model writes it. With an API key (the platform's, or one passed per
call) it streams from any OpenAI-compatible server through the official SDK; with no key
at all the offline demo model answers instead, labelled "demo". Every failure reaches the
caller as `ModelError` with a short message fit for the person who pressed Submit.
"""

import asyncio
import contextlib
import functools
import json
import logging
import re
import weakref

import httpx2
import openai
from django.conf import settings

log = logging.getLogger(__name__)

DEMO_LABEL = "demo"
CUT_OFF = "The answer was cut off before the model finished."


class ModelError(Exception):
    """A failure talking to the model; `message` is short and safe to show to users."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def is_demo() -> bool:
    """True when the platform has no model key, so runs without their own key use the demo."""
    return not settings.OPENAI_API_KEY


def start_completion(*, model, temperature, max_tokens, system="", prompt="", messages=None, api_key=None):
    """Prepare one streamed answer; the request is sent when iteration begins.

    The model is sent `messages` (a chat's whole message list: system, assistant and user
    turns) when given, else the `system` instructions and one user `prompt`."""
    if messages is None:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    return Completion(
        model=model,
        messages=messages,
        temperature=temperature,
        max_tokens=max_tokens,
        api_key=api_key,
    )


class Completion:
    """One answer, as an async iterator of text pieces.

    Iterate it once. Use `async with completion:` (or call `aclose()`) when iteration may
    stop early, so the HTTP stream is closed at once rather than when garbage-collected.
    `prompt_tokens`, `completion_tokens` and `model_label` are final when iteration ends.
    """

    def __init__(self, *, model, messages, temperature, max_tokens, api_key=None):
        key = api_key or settings.OPENAI_API_KEY
        self.is_demo = not key
        self.model_label = DEMO_LABEL if self.is_demo else model
        self.prompt_tokens = None
        self.completion_tokens = None
        # Why the model stopped: "stop" (done), "length" (max_tokens reached) or another
        # reason it gave; None until it says, and a stream that ends without one fails.
        self.finish_reason = None
        if self.is_demo:
            self._pieces = self._from_demo_model(
                messages=messages,
                max_tokens=max_tokens,
                delay=settings.DEMO_MODEL_DELAY_SECONDS,
            )
        else:
            self._pieces = self._from_model(
                api_key=key,
                base_url=settings.OPENAI_BASE_URL,
                timeout=settings.OPENAI_TIMEOUT_SECONDS,
                model=model,
                messages=messages,
                temperature=temperature,
                max_tokens=max_tokens,
            )

    def __aiter__(self):
        return self

    async def __anext__(self) -> str:
        return await self._pieces.__anext__()

    async def aclose(self) -> None:
        await self._pieces.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        await self.aclose()

    async def _from_model(self, *, api_key, base_url, timeout, model, messages, temperature, max_tokens):
        client = _client(api_key=api_key, base_url=base_url, timeout=timeout)
        answering = False
        options = {"model": model, "messages": messages, "stream": True, "stream_options": {"include_usage": True}}
        if temperature is not None:
            options["temperature"] = temperature
        if max_tokens is not None:
            options["max_tokens"] = max_tokens
        try:
            # The SDK sends the request (its documented `post` for a request it does not
            # type-check: `chat.completions.create` validates and transforms every option,
            # a tenth of a run's CPU) and turns an error status into its exceptions. The
            # answer's events are read here as plain JSON (the SDK's typed chunks and its
            # event decoder cost more CPU than the rest of a run's streaming).
            response = await client.post("/chat/completions", cast_to=httpx2.Response, body=options, stream=True)
            async with contextlib.aclosing(response):
                answering = True
                async for chunk in _json_events(response.aiter_bytes()):
                    if chunk.get("error"):
                        raise ModelError("The model service reported an error while answering.")
                    if chunk.get("model"):
                        self.model_label = chunk["model"]
                    if chunk.get("usage"):
                        self.prompt_tokens = chunk["usage"].get("prompt_tokens")
                        self.completion_tokens = chunk["usage"].get("completion_tokens")
                    for choice in chunk.get("choices") or ():
                        if choice.get("index") != 0:
                            continue
                        if choice.get("finish_reason"):
                            self.finish_reason = choice["finish_reason"]
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            yield text
            if self.finish_reason is None:
                # The stream ended cleanly but the model never said it had finished.
                raise ModelError(CUT_OFF)
        except openai.OpenAIError as err:
            log.warning("Model call failed (%s): %s", type(err).__name__, err)
            raise ModelError(_message_for(err, answering=answering)) from err
        except httpx2.TimeoutException as err:
            log.warning("Model stream timed out (%s): %s", type(err).__name__, err)
            raise ModelError("The model took too long to answer.") from err
        except httpx2.TransportError as err:
            log.warning("Model stream broke (%s): %s", type(err).__name__, err)
            raise ModelError("The connection to the model was lost.") from err
        except (httpx2.HTTPError, ValueError, AttributeError, TypeError) as err:
            # An unexpected HTTP failure, or an event that is not the JSON object expected.
            log.warning("Model stream unreadable (%s): %s", type(err).__name__, err)
            raise ModelError("The model service sent an answer that could not be read.") from err

    async def _from_demo_model(self, *, messages, max_tokens, delay):
        self.prompt_tokens = sum(len(str(message["content"]).split()) for message in messages)
        self.completion_tokens = 0
        words = re.findall(r"\S+\s*", _demo_reply(messages))
        stopped_at_length = bool(max_tokens) and len(words) > max_tokens
        if stopped_at_length:
            words = words[:max_tokens]
        for word in words:
            await asyncio.sleep(delay)
            self.completion_tokens += 1
            yield word
        self.finish_reason = "length" if stopped_at_length else "stop"


async def _json_events(byte_chunks):
    """The `data:` payloads of a server-sent event stream as JSON, until `[DONE]`. What
    follows `[DONE]` is read too (nothing, normally), so the connection can be reused."""
    buffer = b""
    done = False
    async for data in byte_chunks:
        if done:
            continue
        buffer += data
        *events, buffer = buffer.replace(b"\r\n", b"\n").split(b"\n\n")
        for line in b"\n".join(events).split(b"\n"):
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                done = True
                break
            chunk = json.loads(payload)
            if not isinstance(chunk, dict):
                raise ValueError("An event of the answer is not a JSON object.")
            yield chunk


def _demo_reply(messages: list) -> str:
    """The demo model's answer to a message list: a form's (system + one prompt) or a chat's."""
    system = next((str(m["content"]) for m in messages if m["role"] == "system"), "")
    turns = [m for m in messages if m["role"] != "system"]
    if len(turns) == 1 and turns[0]["role"] == "user":
        return _demo_answer(system, str(turns[0]["content"]))
    return _demo_chat_answer(system, turns)


def _demo_chat_answer(system: str, turns: list) -> str:
    """A chat's demo answer: it shows it saw the earlier turns by counting them, and, like
    a form's, never repeats a word of what it was sent (the hidden instructions, the
    opening message, the person's messages)."""
    asked = sum(1 for turn in turns if turn["role"] == "user")
    answers = sum(1 for turn in turns if turn["role"] == "assistant")
    latest = str(turns[-1]["content"]) if turns else ""
    answer = [
        "## Demo answer",
        "",
        "The offline demo model wrote this placeholder instead of a real answer.",
        "",
        f"- This is message {asked} of our chat that I was sent, after {_count(answers, 'earlier answer')}.",
        f"- Your message has {_count(len(latest.split()), 'word')}.",
        f"- The chat's hidden instructions have {_count(len(system.split()), 'word')}.",
        "- A real model answers once the site has an OpenAI API key.",
    ]
    return "\n".join(answer) + "\n"


def _demo_answer(system: str, prompt: str) -> str:
    """The demo model's whole answer: fixed for a given prompt, visibly not a real model's.
    It never repeats the prompt or the instructions, not even a word of them: they are the
    pickaxe creator's work, hidden from the person who runs it (and the filled-in template
    cannot be told apart from the values that person typed). It only counts them."""
    words, lines = len(prompt.split()), len(prompt.splitlines()) or 1
    answer = [
        "## Demo answer",
        "",
        "The offline demo model wrote this placeholder instead of a real answer.",
        "",
        f"- The prompt it was sent has {_count(words, 'word')} on {_count(lines, 'line')}.",
        f"- The pickaxe's hidden instructions have {_count(len(system.split()), 'word')}.",
        "- A real model answers once the site has an OpenAI API key.",
    ]
    return "\n".join(answer) + "\n"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _message_for(err: openai.OpenAIError, *, answering: bool) -> str:
    if isinstance(err, openai.APITimeoutError):
        return "The model took too long to answer."
    if isinstance(err, openai.APIConnectionError):
        if answering:
            return "The connection to the model was lost."
        return "The model service could not be reached."
    if isinstance(err, openai.AuthenticationError):
        return "The API key was refused by the model service."
    if isinstance(err, openai.RateLimitError):
        if err.code == "insufficient_quota":
            return "The API key has no quota left at the model service."
        return "The model service is busy (HTTP 429). Try again in a moment."
    if isinstance(err, openai.APIStatusError):
        return f"The model service answered with an error (HTTP {err.status_code})."
    if isinstance(err, openai.APIError):
        return "The model service reported an error while answering."
    return "The model could not be used."


# One client per event loop and server, so runs share its connection pool (an httpx
# client belongs to the loop it was first used on). A run on a user's own key borrows
# the same pool with its own key.
_clients = weakref.WeakKeyDictionary()


def _client(*, api_key, base_url, timeout):
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    shared = per_loop.get((base_url, timeout))
    if shared is None:
        shared = per_loop[(base_url, timeout)] = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(verify=_tls_context(), timeout=timeout),
        )
    return shared if shared.api_key == api_key else shared.with_options(api_key=api_key)


@functools.cache
def _tls_context():
    # Honours SSL_CERT_FILE / SSL_CERT_DIR like the SDK's own default client does.
    return httpx2.create_ssl_context()
