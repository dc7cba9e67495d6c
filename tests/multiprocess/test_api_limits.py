"""The run API's per-end-user cap over two web processes on one database: calls for one end
user spread over both processes at once make exactly the runs the key allows."""

from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
import pytest

from tests.multiprocess.conftest import manage, run_sql

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db]

SETUP = """
from accounts.models import User
from pickaxes.models import InputField, Pickaxe
owner = User.objects.create_user("owner@example.com", "a correct horse, 9 batteries")
pickaxe = Pickaxe.objects.create(owner=owner, name="Poem", slug="poem", visibility="public",
                                 prompt_template="A poem about {{topic}}.", model="gpt-4o-mini")
InputField.objects.create(pickaxe=pickaxe, label="Topic", key="topic", max_length=200)
"""


def test_the_end_user_cap_holds_across_two_web_processes(web_processes):
    (first, second), env = web_processes
    assert manage(env, "shell", "-c", SETUP).returncode == 0
    made = manage(
        env,
        "api_keys",
        "create",
        "owner@example.com",
        "backend",
        "--runs-per-end-user",
        "2",
        "--end-user-period",
        "day",
    )
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()

    def run(process, user):
        return httpx.post(
            f"{process.url}/api/v1/pickaxes/poem/runs",
            headers={"Authorization": f"Bearer {secret}"},
            json={"inputs": {"topic": "the sea"}, "user": user},
            timeout=60,
        )

    # Six calls for alice at once, three to each process, while each run takes seconds.
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda n: run((first, second)[n % 2], "alice"), range(6)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 200, 429, 429, 429, 429]
    refused = [answer.json() for answer in answers if answer.status_code == 429]
    assert all(problem["type"] == "/api/v1/docs/#problem-end-user-limit" and problem["reset_at"] for problem in refused)
    assert all(answer.json()["output"].endswith("piece11") for answer in answers if answer.status_code == 200)
    # Bob has his own two.
    assert run(second, "bob").status_code == 200
    assert run_sql(env["DATABASE_URL"], "SELECT count(*) FROM embeds_apirun WHERE end_user = 'alice'")[0][0] == 2
    listed = manage(env, "api_keys", "list", "owner@example.com")
    assert "backend" in listed.stdout and "active" in listed.stdout
