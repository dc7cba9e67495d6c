"""Signed payloads that are not Stripe events (issue 12, item 18): 400, nothing stored."""

import json

import pytest

from billing.models import WebhookEvent
from tests.fakes.stripe_server import sign_payload

pytestmark = pytest.mark.django_db

NOT_EVENTS = [
    {"type": "customer.subscription.updated", "created": 1, "data": {"object": {}}},  # no id
    {"id": "evt_1", "created": 1, "data": {"object": {}}},  # no type
    {"id": "evt_2", "type": "invoice.paid", "created": "yesterday", "data": {"object": {}}},
    {"id": "evt_3", "type": "invoice.paid", "created": 1, "data": []},
    [{"id": "evt_4", "type": "invoice.paid"}],  # a JSON list
    "just a string",
]


@pytest.mark.parametrize("body", NOT_EVENTS)
def test_a_signed_payload_that_is_not_an_event_is_refused_with_400_and_nothing_stored(client, settings, body):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test"
    payload = json.dumps(body)
    response = client.post(
        "/billing/webhook/",
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign_payload(payload, "whsec_test"),
    )
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_a_signed_payload_that_is_not_json_is_refused_with_400(client, settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test"
    payload = "{not json"
    response = client.post(
        "/billing/webhook/",
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign_payload(payload, "whsec_test"),
    )
    assert response.status_code == 400 and not WebhookEvent.objects.exists()
