"""Owners see their API usage: API runs labelled as such on the studio usage page and in
its CSV, with the key's name and the end user the caller named."""

import csv
import re
from io import StringIO

from embeds import services
from tests.pickaxes.factories import PickaxeFactory, open_run


def api_run(key, pickaxe, end_user):
    return services.start_api_run(key=key, pickaxe=pickaxe, end_user=end_user, inputs={"topic": "x"}, body_hash="h").run


def test_the_usage_page_counts_api_runs_by_key_and_end_users(client, pickaxe):
    backend = services.create_api_key(owner=pickaxe.owner, name="backend").key
    nightly = services.create_api_key(owner=pickaxe.owner, name="nightly").key
    api_run(backend, pickaxe, "alice")
    api_run(backend, pickaxe, "alice")
    api_run(backend, pickaxe, "bob")
    api_run(nightly, pickaxe, "job")
    open_run(pickaxe, pickaxe.owner, "s" * 20)
    client.force_login(pickaxe.owner)
    html = client.get(f"/studio/{pickaxe.slug}/usage/").content.decode()
    assert '<strong data-testid="api-runs">4</strong> runs' in html
    table = html.split('data-testid="api-usage"', 1)[1].split("</table>", 1)[0]
    rows = table.split("<tr>")[2:]
    cells = [re.findall(r"<td[^>]*>([^<]*)", row)[1:3] for row in rows]
    assert "backend" in rows[0] and cells[0] == ["3", "2"]
    assert "nightly" in rows[1] and cells[1] == ["1", "1"]
    assert 'class="bar-api"' in html


def test_the_usage_page_lists_only_this_pickaxes_api_runs(client, pickaxe):
    other = PickaxeFactory(owner=pickaxe.owner)
    key = services.create_api_key(owner=pickaxe.owner, name="backend").key
    api_run(key, other, "alice")
    client.force_login(pickaxe.owner)
    html = client.get(f"/studio/{pickaxe.slug}/usage/").content.decode()
    assert '<strong data-testid="api-runs">0</strong> runs' in html and 'data-testid="api-usage"' not in html


def test_the_csv_labels_api_runs_with_the_key_name_and_end_user(client, pickaxe, django_assert_max_num_queries):
    key = services.create_api_key(owner=pickaxe.owner, name="=backend").key
    api_run(key, pickaxe, "customer-42")
    open_run(pickaxe, pickaxe.owner, "s" * 20)
    client.force_login(pickaxe.owner)
    response = client.get(f"/studio/{pickaxe.slug}/usage.csv")
    rows = list(csv.DictReader(StringIO(response.content.decode())))
    api, site = sorted(rows, key=lambda row: row["source"])
    assert (api["source"], api["api_key"], api["end_user"]) == ("api", "'=backend", "customer-42")
    assert (site["source"], site["api_key"], site["end_user"]) == ("site", "", "")
    for n in range(5):
        api_run(key, pickaxe, f"user-{n}")
    with django_assert_max_num_queries(8):  # the same few queries however many runs
        body = client.get(f"/studio/{pickaxe.slug}/usage.csv").content.decode()
    assert body.count(",api,") == 6
