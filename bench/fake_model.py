"""The fake model of the bench: tests/fakes/openai_server.py's streamed answer,
served by one asyncio process.

    python bench/fake_model.py --chunks 51 --delay 0     # prints its base URL, then serves until stdin closes

`POST /v1/chat/completions` with `"stream": true` answers with the same events, in the
same order and with the same JSON, as tests/fakes/openai_server.py (it uses that module's
`_pieces`, `_usage` and its chunk builders): a role chunk, one chunk per word of the reply (`--chunks` words),
a `finish_reason` chunk, a usage chunk when `stream_options.include_usage`, `[DONE]`,
over chunked HTTP/1.1 with keep-alive. `--delay` seconds pass between text chunks (the
slow model); with 0 the whole answer is written at once.

Why not the test fake itself: it is a ThreadingHTTPServer (a thread per connection, a
flush per chunk) that costs ~1.3 ms of CPU per answer, and a thread per open answer; on
this 2-core machine that is CPU taken from the servers being measured. This one costs a
fraction of that, and the bench prints what it used per run.
"""

import argparse
import asyncio
import json
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fakes.openai_server import _chunk_base, _pieces, _text_chunk, _usage  # noqa: E402


def chunk(payload: bytes) -> bytes:
    return b"%X\r\n%s\r\n" % (len(payload), payload)


def event(data) -> bytes:
    return chunk(b"data: " + json.dumps(data).encode() + b"\n\n")


def stream_parts(reply, body):
    """The HTTP body of the streamed answer, as tests/fakes/openai_server.py writes it:
    (text chunks before the first pause, [chunk after each pause], the end)."""
    model = body["model"]
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base = _chunk_base(model)

    def data(delta, finish_reason=None):
        return _text_chunk(base, delta, finish_reason, include_usage=include_usage)

    pieces = _pieces(reply)
    first = event(data({"role": "assistant", "content": "", "refusal": None})) + event(data({"content": pieces[0]}))
    rest = [event(data({"content": piece})) for piece in pieces[1:]]
    end = event(data({}, finish_reason="stop"))
    if include_usage:
        end += event({**base, "choices": [], "usage": _usage(body, pieces)})
    end += chunk(b"data: [DONE]\n\n") + chunk(b"")
    return first, rest, end


HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"x-request-id: req_fake\r\n\r\n"
)


def error(status, text):
    payload = json.dumps(
        {"error": {"message": text, "type": "invalid_request_error", "param": None, "code": None}}
    ).encode()
    return (
        f"HTTP/1.1 {status} Error\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )


async def serve(reply, delay, reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            raw = await reader.readexactly(int(headers.get("content-length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if method != "POST" or not path.endswith("/chat/completions"):
                writer.write(error(404, "Unknown URL."))
            elif not isinstance(body, dict) or not body.get("stream") or "model" not in body:
                writer.write(error(400, "This fake answers streamed chat completions only."))
            else:
                first, rest, end = stream_parts(reply, body)
                writer.write(HEAD + first)
                for piece in rest:
                    if delay:
                        await writer.drain()
                        await asyncio.sleep(delay)
                    writer.write(piece)
                writer.write(end)
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
        pass
    finally:
        writer.close()


async def main(reply, delay):
    server = await asyncio.start_server(lambda r, w: serve(reply, delay, r, w), "127.0.0.1", 0, backlog=4096)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"http://{host}:{port}", flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)  # the parent closes our stdin to stop us
    async with server:
        await stdin_closed


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=51, help="words in the answer, one chunk each")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between text chunks")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        asyncio.run(main(" ".join(f"word{i}" for i in range(args.chunks)), args.delay))
    except KeyboardInterrupt:  # the bench stops us with SIGINT (after closing stdin)
        pass
