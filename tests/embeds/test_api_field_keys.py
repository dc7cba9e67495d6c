"""The API runs a pickaxe whatever its fields' keys, and names a wrong input by its key
(tests/pickaxes/test_field_keys.py: the same on the site and in the embed)."""

from embeds.services import create_api_key
from pickaxes.models import Run
from tests.embeds.conftest import call
from tests.pickaxes.test_field_keys import KEYS, assert_ran_with, pickaxe_with_key


def test_any_key_runs_in_the_api(api_server, fake_openai):
    for key in KEYS:
        pickaxe = pickaxe_with_key(key)
        secret = create_api_key(owner=pickaxe.owner, name="backend").secret
        path = f"/api/v1/pickaxes/{pickaxe.slug}/runs"
        response = call(api_server, "POST", path, secret, json={"inputs": {key: "the sea"}, "user": "u"})
        assert response.status_code == 200, (key, response.text)
        assert_ran_with(fake_openai, Run.objects.get(pk=response.json()["id"]), key)
        # A wrong value is named by its key.
        response = call(api_server, "POST", path, secret, json={"inputs": {key: "x" * 201}, "user": "u"})
        assert response.status_code == 422
        assert [error["field"] for error in response.json()["errors"]] == [f"inputs.{key}"]
