"""The run path stays cheap: a fixed number of queries from POST to the end of the stream."""

from asgiref.sync import async_to_sync
from django.db import connection
from django.test import AsyncClient
from django.test.utils import CaptureQueriesContext

from pickaxes.models import Run
from tests.pickaxes.conftest import sse_events, submission_key
from tests.pickaxes.factories import open_run

# the pickaxe, its fields, the session, the user | the spend (the unlocked read, then its
# UPDATE and INSERT: one statement on PostgreSQL, two on SQLite; the UPDATE also returns
# what the low-balance alert needs), the Run and the pickaxe's run count (one statement on
# PostgreSQL, two on SQLite) | the end of the run, the balance shown with it
QUERIES_PER_SITE_RUN = 9 if connection.vendor == "postgresql" else 11


def statements(queries):
    """What the run sent, without the savepoints a test's own transaction adds."""
    return [query["sql"] for query in queries if "SAVEPOINT" not in query["sql"]]


def test_a_site_run_makes_a_fixed_number_of_queries_from_post_to_the_end_of_its_stream(
    client, user, pickaxe, fake_openai
):
    client.force_login(user)
    data = {"topic": "the sea", "submission_key": submission_key(client, pickaxe)}
    browser = AsyncClient()
    browser.cookies = client.cookies

    async def run():
        response = await browser.post(f"/p/{pickaxe.slug}/run/", data, headers={"accept": "text/event-stream"})
        return b"".join([chunk async for chunk in response.streaming_content]).decode()

    with CaptureQueriesContext(connection) as queries:
        body = async_to_sync(run)()
    end = sse_events(body)[-1][1]
    assert end["ok"] and end["balance"] == 24
    sent = statements(queries)
    assert len(sent) == QUERIES_PER_SITE_RUN, "\n".join(sent)


def test_the_run_written_by_plain_sql_mirrors_the_stored_row_and_is_counted_on_its_pickaxe(user, pickaxe):
    before = pickaxe.runs_count
    run = open_run(pickaxe, user, "k" * 20)
    stored = Run.objects.get(pk=run.pk)
    for field in Run._meta.concrete_fields:
        assert getattr(run, field.attname) == getattr(stored, field.attname), field.name
    assert run.pickaxe is pickaxe and not run._state.adding
    pickaxe.refresh_from_db()
    assert pickaxe.runs_count == before + 1
