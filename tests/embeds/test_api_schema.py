"""The OpenAPI schema at /api/v1/openapi.json is valid OpenAPI 3.1, and every documented
endpoint answers over HTTP with a status, media type and body the schema documents."""

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from embeds import services
from embeds.api import PROBLEMS
from tests.embeds.conftest import call
from tests.pickaxes.factories import ChatPickaxeFactory


@pytest.fixture
def schema(api_server):
    response = call(api_server, "GET", "/api/v1/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    return response.json()


def assert_documented(schema, path, method, response):
    """The answer's status is documented for the operation, with its media type, and the
    body validates against the documented schema."""
    documented = schema["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in documented, f"{method.upper()} {path} answered {status}, documented: {sorted(documented)}"
    media_type = response.headers["content-type"].split(";")[0]
    content = documented[status]["content"]
    assert media_type in content, f"{method.upper()} {path} {status} sent {media_type}, documented: {list(content)}"
    if media_type != "text/event-stream":
        body_schema = {**content[media_type]["schema"], "components": schema["components"]}
        OAS31Validator(body_schema).validate(response.json())


def test_the_schema_is_valid_openapi_3_1(schema):
    assert schema["openapi"].startswith("3.1")
    validate(schema)  # raises on an invalid document


def test_the_schema_documents_every_endpoint_and_the_bearer_key(schema):
    assert set(schema["paths"]) == {
        "/api/v1/pickaxes/{slug}/runs",
        "/api/v1/runs/{run_id}",
        "/api/v1/balance",
        "/api/v1/pickaxes",
        "/api/v1/conversations/{conversation_id}",
    }
    schemes = schema["components"]["securitySchemes"]
    assert any(scheme == {"type": "http", "scheme": "bearer"} for scheme in schemes.values())
    errors = schema["paths"]["/api/v1/pickaxes/{slug}/runs"]["post"]["responses"]
    assert {status for status, _ in PROBLEMS.values()} <= {int(code) for code in errors}
    assert all("application/problem+json" in errors[code]["content"] for code in errors if int(code) >= 400)


def test_every_documented_endpoint_answers_as_documented(schema, api_server, api_key, pickaxe, fake_openai):
    secret = api_key.secret
    runs = "/api/v1/pickaxes/{slug}/runs"
    body = {"inputs": {"topic": "the sea"}, "user": "customer-1"}
    made = call(api_server, "POST", f"/api/v1/pickaxes/{pickaxe.slug}/runs", secret, json=body)
    assert_documented(schema, runs, "post", made)
    streamed = call(api_server, "POST", f"/api/v1/pickaxes/{pickaxe.slug}/runs", secret, json={**body, "stream": True})
    assert_documented(schema, runs, "post", streamed)
    run_id = made.json()["id"]
    answers = {
        ("/api/v1/runs/{run_id}", "get"): call(api_server, "GET", f"/api/v1/runs/{run_id}", secret),
        ("/api/v1/balance", "get"): call(api_server, "GET", "/api/v1/balance", secret),
        ("/api/v1/pickaxes", "get"): call(api_server, "GET", "/api/v1/pickaxes", secret),
    }
    answers[("/api/v1/conversations/{conversation_id}", "get")] = call(
        api_server,
        "GET",
        "/api/v1/conversations/"
        + call(
            api_server,
            "POST",
            f"/api/v1/pickaxes/{ChatPickaxeFactory(owner=pickaxe.owner).slug}/runs",
            secret,
            json={"message": "Hi", "user": "customer-1"},
        ).json()["conversation"]
        + "?user=customer-1",
        secret,
    )
    for (path, method), response in answers.items():
        assert response.status_code == 200
        assert_documented(schema, path, method, response)
    assert {(path, method) for path in schema["paths"] for method in schema["paths"][path]} == {
        (runs, "post"),
        *answers,
    }


def test_the_chat_calls_answer_as_documented(schema, api_server, api_key, fake_openai):
    chat = ChatPickaxeFactory(owner=api_key.key.owner)
    runs = "/api/v1/pickaxes/{slug}/runs"
    url = f"/api/v1/pickaxes/{chat.slug}/runs"
    body = {"message": "Hello", "user": "customer-1"}
    made = call(api_server, "POST", url, api_key.secret, json=body)
    assert_documented(schema, runs, "post", made)
    conversation = made.json()["conversation"]
    streamed = call(
        api_server, "POST", url, api_key.secret, json={**body, "conversation": conversation, "stream": True}
    )
    assert_documented(schema, runs, "post", streamed)
    read = call(api_server, "GET", f"/api/v1/conversations/{conversation}?user=customer-1", api_key.secret)
    assert read.status_code == 200 and len(read.json()["messages"]) == 4
    path = "/api/v1/conversations/{conversation_id}"
    assert_documented(schema, path, "get", read)
    errors = [
        call(api_server, "GET", f"/api/v1/conversations/{conversation}?user=someone-else", api_key.secret),
        call(api_server, "GET", f"/api/v1/conversations/{conversation}", api_key.secret),
        call(api_server, "GET", f"/api/v1/conversations/{conversation}?user=customer-1"),
    ]
    assert [response.status_code for response in errors] == [404, 422, 401]
    for response in errors:
        assert_documented(schema, path, "get", response)
    form_body = call(api_server, "POST", url, api_key.secret, json={"inputs": {"topic": "x"}, "user": "u"})
    assert form_body.status_code == 422
    assert_documented(schema, runs, "post", form_body)
    request_schema = schema["paths"][runs]["post"]["requestBody"]["content"]["application/json"]["schema"]
    members = schema["components"]["schemas"][request_schema["$ref"].rsplit("/", 1)[-1]]["properties"]
    assert {"inputs", "message", "conversation", "user", "stream"} <= set(members)


def test_every_documented_error_answers_as_documented(schema, api_server, api_key, pickaxe, fake_openai):
    runs = "/api/v1/pickaxes/{slug}/runs"
    url = f"/api/v1/pickaxes/{pickaxe.slug}/runs"
    body = {"inputs": {"topic": "the sea"}, "user": "customer-1"}
    slow = services.create_api_key(owner=pickaxe.owner, name="slow", runs_per_minute=1, runs_per_end_user=1)
    call(api_server, "POST", url, slow.secret, json=body, headers={"Idempotency-Key": "k"})
    errors = [
        call(api_server, "POST", url, "pk_live_nope", json=body),
        call(api_server, "POST", url, api_key.secret, content=b"{", headers={"Content-Type": "application/json"}),
        call(api_server, "POST", url, api_key.secret, json={"inputs": {}, "user": "u"}),
        call(api_server, "POST", "/api/v1/pickaxes/no-such-pickaxe/runs", api_key.secret, json=body),
        call(api_server, "POST", url, slow.secret, json={**body, "user": "x"}, headers={"Idempotency-Key": "k"}),
        call(api_server, "POST", url, slow.secret, json=body),
    ]
    assert [response.status_code for response in errors] == [401, 400, 422, 404, 409, 429]
    for response in errors:
        assert_documented(schema, runs, "post", response)
    assert_documented(schema, "/api/v1/runs/{run_id}", "get", call(api_server, "GET", "/api/v1/runs/0", api_key.secret))
    assert_documented(schema, "/api/v1/balance", "get", call(api_server, "GET", "/api/v1/balance"))
