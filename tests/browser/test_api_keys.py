"""The run API from a person's side: make a key in the browser, copy it from the page, and
run a pickaxe with it from a program (httpx) over the same live server; the docs page."""

import httpx2 as httpx
import pytest
from playwright.sync_api import expect

from credits import selectors as credits
from pickaxes.models import Run
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": 1280, "phone": 390}


def log_in(page, email):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url("/accounts/login/")


def test_a_key_made_in_the_browser_runs_a_pickaxe_from_a_program(
    new_page, asgi_live_server, fake_openai, pickaxe, screenshot
):
    fake_openai.reply = "Grey gulls over the harbour."
    UserFactory(email="dev@example.com")
    page = new_page(asgi_live_server, viewport={"width": 1280, "height": 900})
    log_in(page, "dev@example.com")
    page.goto("/account/")
    page.get_by_role("link", name="API keys").click()
    expect(page).to_have_url("/account/api-keys/")
    page.get_by_label("Name").fill("my backend")
    page.get_by_label("Runs per end user").fill("5")
    page.get_by_role("button", name="Make key").click()

    secret = page.get_by_test_id("api-key-secret").inner_text().strip()
    assert secret.startswith("pk_live_")
    expect(page.get_by_test_id("api-keys")).to_contain_text("my backend")
    expect(page.get_by_test_id("api-keys")).to_contain_text(secret[:16] + "…")
    screenshot("api-keys-new-1280", page)

    answer = httpx.post(
        f"{asgi_live_server.url}/api/v1/pickaxes/{pickaxe.slug}/runs",
        headers={"Authorization": f"Bearer {secret}"},
        json={"inputs": {"topic": "the sea", "tone": "Serious"}, "user": "customer-1"},
        timeout=30,
    )
    assert answer.status_code == 200 and answer.json()["output"] == "Grey gulls over the harbour."
    run = Run.objects.get()
    assert run.payer.email == "dev@example.com" and credits.balance(run.payer) == 24

    # Shown once: the page does not show the secret again, and a revoked key stops working.
    page.goto("/account/api-keys/")
    expect(page.get_by_test_id("api-key-secret")).to_have_count(0)
    assert secret not in page.content()
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_test_id("api-keys")).to_contain_text("revoked")
    again = httpx.get(f"{asgi_live_server.url}/api/v1/balance", headers={"Authorization": f"Bearer {secret}"})
    assert again.status_code == 401


@pytest.mark.parametrize("size", WIDTHS)
def test_the_keys_and_docs_pages_at_desktop_and_phone_width(new_page, live_server, pickaxe, screenshot, size):
    UserFactory(email="dev@example.com")
    width = WIDTHS[size]
    page = new_page(live_server, viewport={"width": width, "height": 900})
    log_in(page, "dev@example.com")
    page.goto("/account/api-keys/")
    page.get_by_label("Name").fill("my backend")
    page.get_by_role("button", name="Make key").click()
    expect(page.get_by_test_id("api-key-secret")).to_be_visible()
    screenshot(f"api-keys-{width}", page)
    page.goto("/api/v1/docs/")
    expect(page.get_by_test_id("curl-example")).to_contain_text("Authorization: Bearer")
    expect(page.get_by_test_id("api-endpoints")).to_contain_text("POST /api/v1/pickaxes/{slug}/runs")
    # Nothing wider than the screen but the code blocks and tables, which scroll inside themselves.
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    screenshot(f"api-docs-{width}", page)
