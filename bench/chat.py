"""What a chat message costs the web process, against a form run of the same size.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pickaxe_bench .venv/bin/python bench/chat.py

One question, one script: does a chat pickaxe's message cost the server more CPU than a
form pickaxe's run with the same text, and does a long conversation cost more than a short
one? The targets (issue 22): a conversation's 2nd message within 10 % of a form run, and its
50th message within 10 % of its 2nd (the history read is bounded: the newest messages that
fit in RUN_PROMPT_MAX_CHARS, read with a LIMIT).

How:
1. a database named after DATABASE_URL's with `_chat` added (the name must contain
   `bench`): created, migrated, dropped at exit;
2. the fake OpenAI server of the tests (tests/fakes/openai_server.py) in a child process,
   answering at once with REPLY_WORDS words, so its CPU is not counted;
3. one owner with plenty of credits and an API key without limits; a form pickaxe (one
   text field, template "{{topic}}") and a chat pickaxe with the same instructions;
   conversations made ready with 1 and with 49 answered messages (written directly);
4. the project's ASGI application (`config.asgi.application`, middleware and all) called
   in this process as a server would call it, with `POST /api/v1/pickaxes/<slug>/runs`
   and `"stream": true`, the three kinds interleaved (form run, 2nd message, 50th
   message, each time in a rotated order) over ROUNDS rounds of PER_ROUND each, after a
   warm-up round. `time.process_time()` around each call: the CPU of every thread of this
   process (the event loop and the threads that run the database steps), so it counts the
   web process's work and none of PostgreSQL's or the fake model's.

Prints each round's median CPU per call of each kind, the median over rounds with its
spread (the lowest and highest round), the SQL statements per call, the two ratios (the
median of the round-by-round ratios), one PASS/FAIL line per target, and exits 1 if one
fails. Each call's text is MESSAGE_CHARS characters in every kind. About 40 s.

Today (2026-12-08, the shared 2-core machine, other test runs going on):

    CPU per call (ms)   median  lowest  highest   SQL   over 7 rounds of 15
    form run             22.41   21.51    24.85    12
    2nd message          23.43   21.29    28.15    14
    50th message         23.85   22.33    27.81    14
    PASS a 2nd message / a form run of the same size: 1.053 (target <= 1.10)
    PASS a 50th message / a 2nd message: 0.988 (target <= 1.10)

A message's two statements more than a form run: its conversation (the holder's check) and
its history (one query with a LIMIT); its place in the conversation is one UPDATE … RETURNING
of the conversation's counter, which also locks it. (Before that counter, an UPDATE and a MAX,
and the run's pickaxe read with its input fields, a chat's message was 1.12-1.15 × a form run.)
"""

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time

import harness

ROOT = harness.ROOT
DB_SUFFIX = "_chat"

ROUNDS = 7  # measured rounds (plus one warm-up round)
PER_ROUND = 15  # calls of each kind per round
MESSAGE_CHARS = 400  # the form's input and each message: the same size
REPLY_WORDS = 60  # the fake model's answer, streamed word by word
HISTORY = 49  # answered messages before the 50th
TARGET = 1.10  # at most 10 % more CPU


# --------------------------------------------------------------------------- the fake model

FAKE = """
import sys, time
from tests.fakes.openai_server import FakeOpenAIServer
server = FakeOpenAIServer().start()
server.reply = " ".join(f"word{i}" for i in range(int(sys.argv[1])))
print(server.url, flush=True)
sys.stdin.read()  # until the parent closes it
"""


def start_fake():
    """The tests' fake OpenAI server in a child process; (process, its URL)."""
    fake = subprocess.Popen(
        [sys.executable, "-c", FAKE, str(REPLY_WORDS)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    url = fake.stdout.readline().strip()
    if not url.startswith("http"):
        fake.kill()
        sys.exit("bench: the fake model did not start.")
    return fake, url


# --------------------------------------------------------------------------- the data


def text(label, counter):
    """MESSAGE_CHARS characters of words, different each call."""
    words = f"{label} {counter} " + " ".join(f"about{n}" for n in range(MESSAGE_CHARS))
    return words[:MESSAGE_CHARS]


def prepare(conversations):
    """The owner, its key, the two pickaxes, and the conversations the chat calls
    continue: `conversations` each with 1 and with HISTORY answered messages."""
    from accounts.models import User
    from credits.services import set_allowance
    from embeds import services
    from embeds.models import ApiKey, api_holder
    from pickaxes.models import Conversation, InputField, Pickaxe, Run

    owner = User(email="bench-chat@example.com")
    owner.set_unusable_password()
    owner.save()
    set_allowance(owner, 1_000_000, reason="benchmark: chat")
    key = services.create_api_key(owner=owner, name="bench")
    ApiKey.objects.filter(pk=key.key.pk).update(runs_per_minute=0)
    common = {
        "owner": owner,
        "visibility": Pickaxe.Visibility.PUBLIC,
        "system_instructions": "You are a patient tutor. Answer in a few sentences.",
        "model": "gpt-4o-mini",
        "max_output_tokens": 800,
    }
    form = Pickaxe.objects.create(name="Form", slug="bench-form", prompt_template="{{topic}}", **common)
    InputField.objects.create(pickaxe=form, label="Topic", key="topic", kind="long_text", max_length=8000)
    chat = Pickaxe.objects.create(
        name="Chat",
        slug="bench-chat",
        kind=Pickaxe.Kind.CHAT,
        opening_message="Hello! What are you learning today?",
        **common,
    )
    answer = " ".join(f"word{i}" for i in range(REPLY_WORDS))

    def conversation(label, messages):
        user = f"user {label}"
        made = Conversation.objects.create(
            pickaxe=chat,
            holder=api_holder(key.key, user),
            source=Run.Source.API,
            title=text(label, 0)[:80],
            last_position=messages,
        )
        Run.objects.bulk_create(
            Run(
                pickaxe=chat,
                payer=owner,
                source=Run.Source.API,
                submission_key=secrets.token_hex(16),
                inputs={"message": text(label, position)},
                output=answer,
                model="gpt-4o-mini",
                status=Run.Status.SUCCEEDED,
                started_at=made.created_at,
                finished_at=made.created_at,
                conversation=made,
                position=position,
            )
            for position in range(1, messages + 1)
        )
        return made.public_id, user

    second = [conversation(f"second {n}", 1) for n in range(conversations)]
    fiftieth = [conversation(f"fiftieth {n}", HISTORY) for n in range(conversations)]
    return key.secret, form.slug, chat.slug, second, fiftieth


# --------------------------------------------------------------------------- one call


class Call:
    """One POST of the run API to the ASGI application, as a server would make it."""

    def __init__(self, path, body, secret):
        self.body = json.dumps(body).encode()
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"authorization", f"Bearer {secret}".encode()),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(self.body)).encode()),
            ],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 80),
        }
        self.status = None
        self.chunks = []
        self.done = asyncio.Event()
        self._sent = False

    async def receive(self):
        if not self._sent:
            self._sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.done.wait()
        return {"type": "http.disconnect"}

    async def send(self, message):
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                self.done.set()

    def end(self):
        """The `end` event's data, or exit: every call must answer a succeeded run."""
        body = b"".join(self.chunks).decode()
        last = body.strip().rsplit("\n\n", 1)[-1]
        if self.status != 200 or not last.startswith("event: end"):
            sys.exit(f"bench: a call did not end: HTTP {self.status} {body[-300:]!r}")
        data = json.loads(last.split("data: ", 1)[1])
        if data["status"] != "succeeded":
            sys.exit(f"bench: a run did not succeed: {data}")
        return data


STATEMENTS = [0]  # SQL statements sent by any thread of this process


def count_statements(execute, sql, params, many, context):
    STATEMENTS[0] += 1
    return execute(sql, params, many, context)


def watch_statements(sender, connection, **kwargs):
    if count_statements not in connection.execute_wrappers:
        connection.execute_wrappers.append(count_statements)


async def measured(app, call):
    """(CPU seconds of this process, SQL statements) while `call` is answered and its
    run recorded."""
    from pickaxes import running

    statements = STATEMENTS[0]
    start = time.process_time()
    await app(call.scope, call.receive, call.send)
    await call.done.wait()
    while running._running_tasks:  # the run's own task records its end
        await asyncio.sleep(0)
    spent = time.process_time() - start
    call.end()
    return spent, STATEMENTS[0] - statements


# --------------------------------------------------------------------------- main


async def measure(app, secret, form_slug, chat_slug, second, fiftieth, *, rounds, per_round):
    kinds = ("form run", "2nd message", "50th message")
    medians = {kind: [] for kind in kinds}
    statements = {kind: [] for kind in kinds}
    counter = 0
    for round_number in range(rounds + 1):
        spent = {kind: [] for kind in kinds}
        for n in range(per_round):
            counter += 1
            index = round_number * per_round + n
            calls = {
                "form run": (
                    f"/api/v1/pickaxes/{form_slug}/runs",
                    {"inputs": {"topic": text("form", counter)}, "user": "someone", "stream": True},
                ),
                "2nd message": (
                    f"/api/v1/pickaxes/{chat_slug}/runs",
                    {
                        "message": text("second", counter),
                        "conversation": second[index][0],
                        "user": second[index][1],
                        "stream": True,
                    },
                ),
                "50th message": (
                    f"/api/v1/pickaxes/{chat_slug}/runs",
                    {
                        "message": text("fiftieth", counter),
                        "conversation": fiftieth[index][0],
                        "user": fiftieth[index][1],
                        "stream": True,
                    },
                ),
            }
            order = kinds[n % 3 :] + kinds[: n % 3]  # no kind always first
            for kind in order:
                path, body = calls[kind]
                cpu, sql = await measured(app, Call(path, body, secret))
                spent[kind].append(cpu)
                statements[kind].append(sql)
        if round_number == 0:
            continue  # warm-up
        for kind in kinds:
            medians[kind].append(statistics.median(spent[kind]) * 1000)
        print(
            f"round {round_number}: " + "  ".join(f"{kind} {medians[kind][-1]:6.2f} ms" for kind in kinds),
            flush=True,
        )
    return medians, {kind: statistics.median(counts) for kind, counts in statements.items()}


def report(rounds, statements):
    print()
    print(
        f"{'CPU per call (ms)':<18}{'median':>8}{'lowest':>8}{'highest':>9}{'SQL':>6}"
        f"   over {len(rounds['form run'])} rounds"
    )
    for kind, values in rounds.items():
        print(f"{kind:<18}{statistics.median(values):8.2f}{min(values):8.2f}{max(values):9.2f}{statements[kind]:6.0f}")
    # Round by round (the same minute of the machine), then the median of the ratios.
    second_vs_form = statistics.median(s / f for s, f in zip(rounds["2nd message"], rounds["form run"], strict=True))
    fiftieth_vs_second = statistics.median(
        f / s for f, s in zip(rounds["50th message"], rounds["2nd message"], strict=True)
    )
    ok = True
    for label, ratio in (
        ("a 2nd message / a form run of the same size", second_vs_form),
        ("a 50th message / a 2nd message", fiftieth_vs_second),
    ):
        passed = ratio <= TARGET
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'} {label}: {ratio:.3f} (target <= {TARGET:.2f})")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 5 calls: a smoke test")
    args = parser.parse_args()
    rounds, per_round = (3, 5) if args.quick else (ROUNDS, PER_ROUND)
    harness.guard(600)
    url, _, _ = harness.create_database(DB_SUFFIX)
    fake, fake_url = start_fake()
    harness.at_exit(fake.kill)
    harness.setup_django(harness.production_env(url) | {"OPENAI_BASE_URL": fake_url + "/v1"})
    from django.db import connections
    from django.db.backends.signals import connection_created

    secret, form_slug, chat_slug, second, fiftieth = prepare((rounds + 1) * per_round)
    connections.close_all()
    from config.asgi import application

    print(
        f"{rounds} rounds (+1 warm-up) of {per_round} calls of each kind, {MESSAGE_CHARS} characters each, "
        f"the model answering {REPLY_WORDS} words at once",
        flush=True,
    )
    connection_created.connect(watch_statements)
    measured_rounds, statements = asyncio.run(
        measure(application, secret, form_slug, chat_slug, second, fiftieth, rounds=rounds, per_round=per_round)
    )
    ok = report(measured_rounds, statements)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
