"""A past run's page: its inputs, its output (what was received so far while it runs), its charge."""

from pickaxes import services
from tests.pickaxes.factories import open_run


def test_the_payer_sees_a_runs_inputs_output_and_charge(client, user, pickaxe):
    run = open_run(pickaxe, user, "d" * 20, inputs={"topic": "the harbour"})
    services.finish_run(run, output="## Gulls\n\nA poem.", model="m", prompt_tokens=1, completion_tokens=2)
    client.force_login(user)
    html = client.get(f"/account/runs/{run.pk}/").content.decode()
    assert "the harbour" in html and "<h2>Gulls</h2>" in html and "1 credit" in html


def test_a_running_run_shows_the_output_received_so_far(client, user, pickaxe):
    run = open_run(pickaxe, user, "e" * 20)
    services.keep_running({run: "The first words"})
    client.force_login(user)
    html = client.get(f"/account/runs/{run.pk}/").content.decode()
    assert "still running" in html and "The first words" in html


def test_only_the_payer_or_submitter_sees_a_run(client, user, make_user, pickaxe):
    run = open_run(pickaxe, user, "f" * 20)
    client.force_login(make_user())
    assert client.get(f"/account/runs/{run.pk}/").status_code == 404


def test_the_account_page_links_each_run_to_its_page(client, user, pickaxe):
    run = open_run(pickaxe, user, "g" * 20)
    client.force_login(user)
    assert f'href="/account/runs/{run.pk}/"' in client.get("/account/").content.decode()
