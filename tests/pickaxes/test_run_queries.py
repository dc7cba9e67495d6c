"""The run path stays cheap: a fixed number of queries from POST to the end of the stream."""

from asgiref.sync import async_to_sync
from django.db import connection
from django.test import AsyncClient
from django.test.utils import CaptureQueriesContext

from pickaxes import services
from tests.pickaxes.conftest import sse_events, submission_key
from tests.pickaxes.factories import PickaxeFactory, open_run

# the pickaxe, its fields, the session, the user | the spend (see
# credits.services.spend), the Run | the end of the run, the balance shown with it
QUERIES_PER_SITE_RUN = 9 if connection.vendor == "postgresql" else 10


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


def test_a_run_writes_nothing_to_its_pickaxes_row(user, pickaxe):
    with CaptureQueriesContext(connection) as queries:
        open_run(pickaxe, user, "k" * 20)
    assert not [sql for sql in statements(queries) if "pickaxes_pickaxe" in sql and not sql.startswith("SELECT")]


def test_the_runs_count_people_see_is_brought_up_to_date_on_the_sweeps_schedule(user, pickaxe, make_user):
    other = PickaxeFactory()
    for n in range(3):
        open_run(pickaxe, user, f"k{n}" * 10)
    assert services.count_runs() == 2  # never counted yet: both
    pickaxe.refresh_from_db()
    other.refresh_from_db()
    assert (pickaxe.runs_count, other.runs_count) == (3, 0)
    assert services.count_runs() == 0  # nothing ran since
    open_run(other, make_user(), "o" * 20)
    assert services.count_runs() == 1
    other.refresh_from_db()
    assert other.runs_count == 1
