"""A small fake OpenAI-compatible server: real HTTP on 127.0.0.1, for the real `openai` SDK.

It answers `POST /v1/chat/completions`, streaming (server-sent `chat.completion.chunk`
events over chunked HTTP/1.1, a usage chunk when `stream_options.include_usage`, then
`data: [DONE]`) or as one JSON `chat.completion`. Every request is recorded in `requests`.

Knobs, set per test on the server object:

- `reply`: the text to answer; streamed as one chunk per word.
- `response_model`: the model name the answer reports (default: the requested one).
- `chunk_delay`: seconds between streamed chunks.
- `error_status` (and optional `error_code`): answer that HTTP status with an
  OpenAI-style error body instead of an answer.
- `valid_keys`: the accepted API keys (None accepts any); other keys get 401.
- `drop_after_chunks`: stream that many text chunks, then close the socket abruptly.
- `stall_after_chunks`, `stall_seconds`: stream that many text chunks, then go silent
  for that long without closing (then carry on, unless the client has gone).
- `finish_reason`: what the last chunk gives as its finish reason (default "stop").
- `end_after_chunks`: stream that many text chunks, then end the body cleanly with no
  finish reason and no `data: [DONE]` (a server that stopped early but politely).
- `unreadable_after_chunks`: stream that many text chunks, then an event that is not JSON.
"""

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERRORS = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
    ),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


class FakeOpenAIServer:
    """Start with `start()` (or `with FakeOpenAIServer() as server:`), stop with `stop()`."""

    def __init__(self):
        self.reply = "Hello from the fake model, streamed in several pieces."
        self.response_model = None
        self.chunk_delay = 0.0
        self.error_status = None
        self.error_code = None
        self.valid_keys = None
        self.drop_after_chunks = None
        self.stall_after_chunks = None
        self.stall_seconds = 5.0
        self.finish_reason = "stop"
        self.end_after_chunks = None
        self.unreadable_after_chunks = None
        # Each: {"method", "path", "headers" (lower-cased names), "json", "outcome"}.
        # "outcome" is set when the answer ends: "completed", "error", "dropped", or
        # "client gone" (the client closed the connection while the answer streamed).
        self.requests = []
        self._stopping = threading.Event()
        self._httpd = None
        self._thread = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()  # wakes handlers that are stalling or pausing between chunks
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def pause(self, seconds: float) -> None:
        if seconds:
            self._stopping.wait(seconds)


class _ClientGone(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # chunked streams, so a dropped socket is an error

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self._record(None)
        self._send_error(404, code="unknown_url")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        record = self._record(body)
        record["outcome"] = self._answer(self.server.fake, body)

    def _answer(self, fake, body) -> str:
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if fake.valid_keys is not None and key not in fake.valid_keys:
            self._send_error(401)
            return "error"
        if fake.error_status:
            self._send_error(fake.error_status, code=fake.error_code)
            return "error"
        if self.path != "/v1/chat/completions":
            self._send_error(404, code="unknown_url")
            return "error"
        if not isinstance(body, dict) or "model" not in body or "messages" not in body:
            self._send_error(400)
            return "error"
        if not body.get("stream"):
            self._send_json(200, _completion(fake, body))
            return "completed"
        try:
            return self._stream(fake, body)
        except (_ClientGone, OSError):
            self.close_connection = True
            return "client gone"

    def _record(self, body):
        record = {
            "method": self.command,
            "path": self.path,
            "headers": {name.lower(): value for name, value in self.headers.items()},
            "json": body,
            "outcome": None,
        }
        self.server.fake.requests.append(record)
        return record

    def _stream(self, fake, body) -> str:
        model = fake.response_model or body["model"]
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        base = _chunk_base(model)

        def chunk(delta, finish_reason=None):
            return _text_chunk(base, delta, finish_reason, include_usage=include_usage)

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", "req_fake")
        self.end_headers()

        self._event(chunk({"role": "assistant", "content": "", "refusal": None}))
        pieces = _pieces(fake.reply)
        for sent in range(len(pieces) + 1):
            if sent == fake.drop_after_chunks:
                self._drop()
                return "dropped"
            if sent == fake.end_after_chunks:
                self._write_chunk(b"")
                return "ended early"
            if sent == fake.unreadable_after_chunks:
                self._write_chunk(b"data: {this is not json\n\n")
                self._write_chunk(b"")
                return "unreadable"
            if sent == fake.stall_after_chunks:
                fake.pause(fake.stall_seconds)
            elif 0 < sent < len(pieces):
                fake.pause(fake.chunk_delay)
            if sent < len(pieces):
                self._event(chunk({"content": pieces[sent]}))
        self._event(chunk({}, finish_reason=fake.finish_reason))
        if include_usage:
            self._event({**base, "choices": [], "usage": _usage(body, pieces)})
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")  # the last chunk of the HTTP body
        return "completed"

    def _event(self, data):
        self._write_chunk(b"data: " + json.dumps(data).encode() + b"\n\n")

    def _write_chunk(self, payload: bytes):
        try:
            self.wfile.write(b"%X\r\n%s\r\n" % (len(payload), payload))
            self.wfile.flush()
        except OSError as err:
            raise _ClientGone from err

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send_error(self, status, *, code=None):
        kind, default_code, message = ERRORS.get(status, ("server_error", None, "Error."))
        error = {"message": message, "type": kind, "param": None, "code": code or default_code}
        self._send_json(status, {"error": error})

    def _send_json(self, status, data):
        payload = json.dumps(data).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("x-request-id", "req_fake")
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True


def _chunk_base(model):
    """The fields every streamed chunk of one answer shares."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
    }


def _text_chunk(base, delta, finish_reason=None, *, include_usage):
    """One streamed chunk carrying choice 0's `delta`, as OpenAI sends it."""
    data = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}
    if include_usage:
        data["usage"] = None
    return data


def _pieces(reply: str) -> list[str]:
    """The reply cut into word-sized chunks that join back to it exactly."""
    return re.findall(r"\s*\S+|\s+", reply)


def _usage(body, pieces):
    prompt_tokens = sum(len(str(message.get("content") or "").split()) for message in body.get("messages", []))
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": len(pieces),
        "total_tokens": prompt_tokens + len(pieces),
    }


def _completion(fake, body):
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": fake.response_model or body["model"],
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": fake.reply, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(body, _pieces(fake.reply)),
    }
