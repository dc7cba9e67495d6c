"""Websites refused by the allowed domains, shown to the owner: counted from the embed view's
own refusals and from the browsers' CSP reports (both formats), bounded, never a 500."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from embeds import services
from embeds.models import Embed, RefusedHost
from tests.embeds.conftest import embed_form


@pytest.fixture
def listed(embed):
    embed.allowed_domains = "example.com"
    embed.save()
    return embed


def csp_report(blocked="https://blog.stranger.test/poems", directive="frame-ancestors"):
    return json.dumps(
        {
            "csp-report": {
                "document-uri": "https://pickaxe.test/e/x/",
                "blocked-uri": blocked,
                "violated-directive": directive,
                "effective-directive": directive,
                "original-policy": "frame-ancestors 'self' example.com:*",
                "disposition": "enforce",
            }
        }
    )


def reporting_api(blocked="https://blog.stranger.test/poems", directive="frame-ancestors"):
    return json.dumps(
        [
            {
                "type": "csp-violation",
                "age": 10,
                "url": "https://pickaxe.test/e/x/",
                "body": {
                    "documentURL": "https://pickaxe.test/e/x/",
                    "blockedURL": blocked,
                    "effectiveDirective": directive,
                },
            }
        ]
    )


def post_report(embed, body, content_type="application/csp-report", token=None):
    return Client().post(f"/e/{token or embed.token}/csp-report/", body, content_type=content_type)


def counts(embed):
    return {row.host: row.count for row in RefusedHost.objects.filter(embed=embed)}


def test_the_embed_view_names_its_report_address_in_the_csp(client, listed):
    response, _ = embed_form(client, listed)
    policy = response.headers["Content-Security-Policy"]
    assert f"report-uri /e/{listed.token}/csp-report/" in policy
    # Not report-to: Chromium then ignores report-uri and sends no report of a refused frame.
    assert "report-to" not in policy


def test_a_chromium_report_names_the_framing_site_as_its_referrer(listed):
    """What Chromium sends: our own page as blocked-uri, the framing page as referrer."""
    ours = "http://testserver/e/x/"
    post_report(
        listed,
        csp_report(blocked=ours).replace('"disposition"', '"referrer": "https://blog.stranger.test/", "disposition"'),
    )
    assert counts(listed) == {"blog.stranger.test": 1}


def test_a_report_that_names_no_other_site_counts_as_a_site_that_hides_its_address(client, listed):
    post_report(listed, csp_report(blocked="http://testserver/e/x/"))
    assert counts(listed) == {"": 1}
    client.force_login(listed.pickaxe.owner)
    html = client.get(f"/studio/{listed.pickaxe.slug}/embed/").content.decode()
    assert "a website that hides its address" in html
    assert 'name="host" value=""' not in html


def test_the_embed_views_refusal_names_no_report_address_as_it_is_counted_already(client, listed):
    response, _ = embed_form(client, listed, HTTP_REFERER="https://evil.test/page")
    assert "report-uri" not in response.headers["Content-Security-Policy"]


def test_a_frame_ancestors_report_counts_the_refused_host_in_both_formats(listed):
    assert post_report(listed, csp_report()).status_code == 204
    assert post_report(listed, reporting_api(), content_type="application/reports+json").status_code == 204
    assert counts(listed) == {"blog.stranger.test": 2}


def test_reports_of_other_directives_and_of_allowed_hosts_count_nothing(listed):
    assert post_report(listed, csp_report(directive="img-src")).status_code == 204
    assert post_report(listed, csp_report(blocked="https://www.example.com/")).status_code == 204
    assert counts(listed) == {}


def test_an_embed_without_allowed_domains_refuses_nobody_and_counts_nothing(embed):
    assert post_report(embed, csp_report()).status_code == 204
    assert counts(embed) == {}


@pytest.mark.parametrize(
    "body, content_type",
    [
        ("not json", "application/csp-report"),
        ("[1, 2]", "application/csp-report"),
        ('{"csp-report": "x"}', "application/csp-report"),
        ('{"a": 1}', "application/reports+json"),
        ("\xff\xfe", "application/reports+json"),
        ("", "application/csp-report"),
    ],
)
def test_junk_is_answered_400_never_500(listed, body, content_type):
    assert post_report(listed, body, content_type=content_type).status_code == 400
    assert counts(listed) == {}


def test_a_report_body_over_the_size_limit_is_refused(listed):
    padded = csp_report().replace('"disposition"', '"padding": "' + "x" * 9000 + '", "disposition"')
    assert post_report(listed, padded).status_code == 400
    assert counts(listed) == {}


def test_the_report_address_needs_no_login_or_csrf_token_and_ignores_unknown_embeds(listed):
    client = Client(enforce_csrf_checks=True)
    assert (
        client.post(f"/e/{listed.token}/csp-report/", csp_report(), content_type="application/csp-report").status_code
        == 204
    )
    assert client.post("/e/unknown/csp-report/", csp_report(), content_type="application/csp-report").status_code == 204
    assert client.get(f"/e/{listed.token}/csp-report/").status_code == 405
    assert counts(listed) == {"blog.stranger.test": 1}


def test_distinct_hosts_are_capped_per_embed_and_day_but_known_hosts_keep_counting(listed):
    for n in range(services.REFUSED_HOSTS_PER_DAY + 5):
        post_report(listed, csp_report(blocked=f"https://site{n}.test/"))
    assert RefusedHost.objects.filter(embed=listed).count() == services.REFUSED_HOSTS_PER_DAY
    post_report(listed, csp_report(blocked="https://site0.test/"))
    assert counts(listed)["site0.test"] == 2
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        post_report(listed, csp_report(blocked="https://tomorrow.test/"))
    assert RefusedHost.objects.filter(embed=listed, host="tomorrow.test").exists()


def test_the_embed_views_own_refusal_is_counted(client, listed):
    response, _ = embed_form(client, listed, HTTP_REFERER="https://evil.test/page")
    assert response.status_code == 403
    embed_form(client, listed, HTTP_REFERER="https://evil.test/other")
    embed_form(client, listed, HTTP_REFERER="https://www.example.com/ok")
    assert counts(listed) == {"evil.test": 2}


def test_the_embed_page_lists_refused_sites_of_the_last_7_days_and_allows_one(client, listed):
    with time_machine.travel(timezone.now() - timedelta(days=8)):
        post_report(listed, csp_report(blocked="https://old.test/"))
    post_report(listed, csp_report(blocked="https://blog.stranger.test/"))
    post_report(listed, csp_report(blocked="https://blog.stranger.test/2"))
    client.force_login(listed.pickaxe.owner)
    html = client.get(f"/studio/{listed.pickaxe.slug}/embed/").content.decode()
    assert "Websites refused" in html
    assert "<code>blog.stranger.test</code>" in html and "old.test" not in html
    assert '<td class="num">2</td>' in html
    assert "Allow blog.stranger.test" in html

    response = client.post(f"/studio/{listed.pickaxe.slug}/embed/allow/", {"host": "blog.stranger.test"})
    assert response.status_code == 302
    assert Embed.objects.get(pk=listed.pk).domains() == ["example.com", "blog.stranger.test"]
    html = client.get(f"/studio/{listed.pickaxe.slug}/embed/").content.decode()
    assert "blog.stranger.test is now an allowed domain" in html
    assert "Allow blog.stranger.test" not in html  # settled: no longer listed as refused
    assert client.post(f"/studio/{listed.pickaxe.slug}/embed/allow/", {"host": "not a host!"}).status_code == 302
    assert Embed.objects.get(pk=listed.pk).domains() == ["example.com", "blog.stranger.test"]


def test_allowing_a_site_is_for_the_owner_only(client, listed, user):
    client.force_login(user)
    assert client.post(f"/studio/{listed.pickaxe.slug}/embed/allow/", {"host": "evil.test"}).status_code == 404
    assert Embed.objects.get(pk=listed.pk).domains() == ["example.com"]


def test_with_no_refusals_the_embed_page_says_so(client, listed):
    client.force_login(listed.pickaxe.owner)
    html = client.get(f"/studio/{listed.pickaxe.slug}/embed/").content.decode()
    assert "No website outside your allowed domains tried to show the embed in the last 7 days." in html
