"""The embed: the owner pays, limits hold, visitors learn nothing of the owner."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail, signing
from django.test import Client
from django.utils import timezone

from credits import selectors as credits
from credits import services as credit_services
from embeds import services
from pickaxes.models import Run
from tests.embeds.conftest import embed_form, run_embed


def test_the_owner_pays_for_an_embed_run_and_the_visitor_needs_no_account(client, embed, fake_openai):
    html = run_embed(client, embed).content.decode()
    assert "Hello from the fake model" in html
    run = Run.objects.get()
    assert (run.payer, run.submitted_by, run.source) == (embed.pickaxe.owner, None, "embed")
    assert run.embed_run.visitor_id and run.embed_run.visitor_ip
    assert credits.balance(embed.pickaxe.owner) == 24


def test_the_same_embed_submission_twice_charges_once(client, embed, fake_openai):
    _, fields = embed_form(client, embed)
    run_embed(client, embed, fields=fields)
    run_embed(client, embed, fields=fields)
    assert Run.objects.count() == 1 and credits.balance(embed.pickaxe.owner) == 24


def test_the_same_submission_again_shows_its_run_even_when_it_used_the_visitors_last_run(client, embed, fake_openai):
    embed.runs_per_visitor = 1
    embed.save()
    _, fields = embed_form(client, embed)
    run_embed(client, embed, fields=fields)
    html = run_embed(client, embed, fields=fields).content.decode()
    assert "Hello from the fake model" in html and "limit" not in html
    assert Run.objects.count() == 1 and credits.balance(embed.pickaxe.owner) == 24


@pytest.mark.parametrize(
    "token", ["", "forged-token", signing.dumps({"e": "other", "v": "x"}, salt=services.FORM_TOKEN_SALT)]
)
def test_a_missing_or_forged_form_token_is_refused_and_charges_nothing(client, embed, fake_openai, token):
    _, fields = embed_form(client, embed)
    response = run_embed(client, embed, fields={**fields, "embed_token": token})
    assert response.status_code == 400
    assert "Reload the page" in response.content.decode()
    assert not Run.objects.exists() and not fake_openai.requests


def test_an_expired_form_token_is_refused_and_charges_nothing(client, embed, fake_openai, settings):
    _, fields = embed_form(client, embed)
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.EMBED_FORM_TOKEN_MAX_AGE + 5)):
        response = run_embed(client, embed, fields=fields)
    assert response.status_code == 400 and "expired" in response.content.decode()
    assert credits.balance(embed.pickaxe.owner) == 25


def test_the_per_visitor_limit_stops_the_next_run_and_says_when(client, embed, fake_openai):
    embed.runs_per_visitor, embed.period = 2, "day"
    embed.save()
    for _ in range(2):
        assert "Hello from the fake model" in run_embed(client, embed).content.decode()
    html = run_embed(client, embed).content.decode()
    assert "reached the limit of this tool" in html and "run it again on" in html
    assert Run.objects.count() == 2 and credits.balance(embed.pickaxe.owner) == 23
    # Another visitor (another cookie) still may.
    assert "Hello from the fake model" in run_embed(Client(), embed).content.decode()


def test_the_per_visitor_limit_resets_after_its_period(client, embed, fake_openai):
    embed.runs_per_visitor, embed.period = 1, "day"
    embed.save()
    run_embed(client, embed)
    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        assert "Hello from the fake model" in run_embed(client, embed).content.decode()


def test_refunded_runs_do_not_count_against_a_visitor(client, embed, fake_openai):
    embed.runs_per_visitor = 1
    embed.save()
    fake_openai.error_status = 500
    run_embed(client, embed)
    fake_openai.error_status = None
    assert "Hello from the fake model" in run_embed(client, embed).content.decode()


def test_clearing_cookies_does_not_get_past_the_per_ip_backstop(embed, fake_openai):
    embed.runs_per_visitor, embed.runs_per_ip_per_day = 1, 2
    embed.save()
    for _ in range(2):
        assert "Hello from the fake model" in run_embed(Client(), embed).content.decode()  # a fresh cookie each time
    assert "reached the limit of this tool" in run_embed(Client(), embed).content.decode()
    assert Run.objects.count() == 2


def test_embed_runs_per_owner_per_minute_are_capped(embed, fake_openai, settings):
    settings.EMBED_OWNER_RUNS_PER_MINUTE = 3
    embed.runs_per_ip_per_day = 0
    embed.save()
    for _ in range(3):
        run_embed(Client(), embed)
    assert "very busy" in run_embed(Client(), embed).content.decode()
    assert Run.objects.count() == 3


def test_owner_out_of_credits_visitors_see_a_neutral_message_and_one_email_a_day(embed, fake_openai, run_tasks):
    owner = embed.pickaxe.owner
    credit_services.set_allowance(owner, 0, reason="test")
    for _ in range(5):
        html = run_embed(Client(), embed).content.decode()
        run_tasks()
        assert "This tool is resting. Please try again later." in html
        assert "credit" not in html.lower() and owner.email not in html
    assert not fake_openai.requests
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [owner.email]
    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=1)):
        run_embed(Client(), embed)
        run_tasks()
    assert len(mail.outbox) == 2


def test_a_failed_embed_run_tells_the_visitor_nothing_about_the_owner(client, embed, fake_openai):
    fake_openai.error_status = 500
    html = run_embed(client, embed).content.decode()
    assert "could not finish its answer" in html and "charged" not in html


def test_a_post_from_a_site_not_on_the_allow_list_is_refused(client, embed, fake_openai):
    embed.allowed_domains = "example.com"
    embed.save()
    response = run_embed(client, embed, HTTP_ORIGIN="https://evil.test")
    assert response.status_code == 403 and not Run.objects.exists()
    allowed = run_embed(client, embed, HTTP_ORIGIN="https://blog.example.com")
    assert allowed.status_code == 200


def test_a_token_issued_for_a_page_not_on_the_allow_list_is_refused(client, embed, fake_openai):
    embed.allowed_domains = "example.com"
    embed.save()
    response, _ = embed_form(client, embed, HTTP_REFERER="https://evil.test/page")
    assert response.status_code == 403


def test_a_disabled_embed_answers_404(client, embed):
    embed.enabled = False
    embed.save()
    assert client.get(f"/e/{embed.token}/").status_code == 404


def test_the_visitor_cookie_is_partitioned_for_third_party_iframes(client, embed):
    response, _ = embed_form(client, embed)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("pkx_visitor=")
    for attribute in ("SameSite=None", "Secure", "Partitioned", "HttpOnly", "Path=/e/"):
        assert attribute in cookie


def test_only_the_embed_may_be_framed_and_only_by_allowed_domains(client, embed):
    response, _ = embed_form(client, embed)
    assert "X-Frame-Options" not in response.headers
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    embed.allowed_domains = "example.com"
    embed.save()
    response, _ = embed_form(client, embed)
    assert "frame-ancestors 'self' example.com:* *.example.com:*" in response.headers["Content-Security-Policy"]
    page = client.get(f"/p/{embed.pickaxe.slug}/")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_embed_runs_show_on_the_owners_usage_page_and_distinct_visitors_on_the_embed_page(embed, fake_openai):
    run_embed(Client(), embed)
    visitor = Client()
    run_embed(visitor, embed)
    run_embed(visitor, embed, topic="again")
    owner = Client()
    owner.force_login(embed.pickaxe.owner)
    html = owner.get(f"/studio/{embed.pickaxe.slug}/usage/").content.decode()
    assert '<strong data-testid="embed-runs">3</strong> runs' in html
    assert 'class="bar-embed"' in html
    html = owner.get(f"/studio/{embed.pickaxe.slug}/embed/").content.decode()
    assert "2 distinct visitors in the last 30 days" in html


@pytest.mark.parametrize("cookie", ["x" * 200, "<script>", "ABCDEF0123456789abcdef0123456789", "a" * 31])
def test_visitor_cookie_only_the_format_the_site_issues_is_accepted_else_a_new_id(client, embed, fake_openai, cookie):
    client.cookies["pkx_visitor"] = cookie
    response = client.get(f"/e/{embed.token}/")
    issued = response.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
    assert issued != cookie and len(issued) == 32 and int(issued, 16) >= 0
    client.cookies["pkx_visitor"] = issued
    assert "Hello from the fake model" in run_embed(client, embed).content.decode()
    assert Run.objects.get().embed_run.visitor_id == issued


def test_visitor_cookie_the_site_issued_is_kept(client, embed, fake_openai):
    _, fields = embed_form(client, embed)
    issued = client.cookies["pkx_visitor"].value
    assert client.get(f"/e/{embed.token}/").headers["Set-Cookie"].startswith(f"pkx_visitor={issued};")


def test_unpublished_pickaxe_staff_unpublish_stops_its_embed_page_and_runs(client, embed, fake_openai, make_user):
    _, fields = embed_form(client, embed)  # a visitor has the form open
    staff = make_user(is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(staff)
    admin.post("/admin/pickaxes/pickaxe/", {"action": "unpublish", "_selected_action": [embed.pickaxe.pk]})
    page = client.get(f"/e/{embed.token}/")
    html = page.content.decode()
    assert page.status_code == 404 and "This tool is not available right now." in html
    assert embed.pickaxe.name not in html and "private" not in html.lower()
    response = run_embed(client, embed, fields=fields)
    assert "This tool is not available right now." in response.content.decode()
    assert not Run.objects.exists() and not fake_openai.requests
    assert credits.balance(embed.pickaxe.owner) == 25


def test_unpublished_pickaxe_a_private_pickaxe_is_refused_by_the_run_service_too(embed):
    embed.pickaxe.visibility = "private"
    embed.pickaxe.save()
    with pytest.raises(services.EmbedRefused) as refused:
        services.start_embed_run(
            embed=embed, visitor_id="a" * 32, visitor_ip="ip", inputs={"topic": "x"}, submission_key="k" * 20
        )
    assert refused.value.message == "This tool is not available right now."
    assert not Run.objects.exists()


def test_unpublished_pickaxe_the_stream_says_the_neutral_message(embed, fake_openai):
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    embed.pickaxe.visibility = "unlisted"
    embed.pickaxe.save()
    assert Client().get(f"/e/{embed.token}/").status_code == 200  # unlisted still serves
    embed.pickaxe.visibility = "private"
    embed.pickaxe.save()

    async def go():
        response = await AsyncClient().post(
            f"/e/{embed.token}/run/", {"topic": "x"}, headers={"accept": "text/event-stream"}
        )
        return b"".join([chunk async for chunk in response.streaming_content]).decode()

    body = async_to_sync(go)()
    assert "This tool is not available right now." in body and embed.pickaxe.name not in body
    assert not Run.objects.exists()
