"""A new address for an embed: asked for first, and the old address answers "moved" (framed
where the embed may be framed) instead of a broken frame; it never runs anything."""

from django.test import Client

from credits import selectors as credits
from embeds import services
from embeds.models import Embed, RetiredToken
from pickaxes.models import Run
from tests.clients import post_without_javascript
from tests.embeds.conftest import embed_form, run_embed

MOVED = "This tool has moved. The site&#x27;s owner needs to update it."


def rotate(client, embed):
    client.force_login(embed.pickaxe.owner)
    response = client.post(f"/studio/{embed.pickaxe.slug}/embed/rotate/")
    embed.refresh_from_db()
    return response


def test_the_embed_page_asks_before_making_a_new_address(client, embed):
    client.force_login(embed.pickaxe.owner)
    settings_html = client.get(f"/studio/{embed.pickaxe.slug}/embed/").content.decode()
    # No one-click form: a link to the question.
    assert f'action="/studio/{embed.pickaxe.slug}/embed/rotate/"' not in settings_html
    assert f'href="/studio/{embed.pickaxe.slug}/embed/rotate/"' in settings_html

    old = embed.token
    question = client.get(f"/studio/{embed.pickaxe.slug}/embed/rotate/")
    assert question.status_code == 200
    html = question.content.decode()
    assert "Every website that uses the current snippet stops showing the tool at once" in html
    assert MOVED in html
    assert '<form method="post"' in html
    embed.refresh_from_db()
    assert embed.token == old  # asking changed nothing


def test_the_question_is_for_the_owner_only(client, embed, user):
    client.force_login(user)
    assert client.get(f"/studio/{embed.pickaxe.slug}/embed/rotate/").status_code == 404


def test_the_old_address_says_the_tool_has_moved_and_may_be_framed_where_the_embed_may(client, embed):
    embed.allowed_domains = "example.com"
    embed.save()
    old = embed.token
    rotate(Client(), embed)
    assert embed.token != old

    response = Client().get(f"/e/{old}/", HTTP_REFERER="https://example.com/poems")
    assert response.status_code == 410
    html = response.content.decode()
    assert MOVED in html
    assert "<form" not in html and embed.pickaxe.name not in html and embed.pickaxe.owner.email not in html
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' example.com:* *.example.com:*" in policy
    assert "X-Frame-Options" not in response.headers
    # The moved page names no report address: that would lead to the new token.
    assert embed.token not in policy and "Reporting-Endpoints" not in response.headers
    assert Client().get(f"/e/{embed.token}/").status_code == 200


def test_posting_a_run_to_the_old_address_runs_nothing_and_charges_nothing(embed, fake_openai):
    visitor = Client()
    _, fields = embed_form(visitor, embed)  # the page was open before the owner rotated
    old = embed.token
    rotate(Client(), embed)

    response = visitor.post(f"/e/{old}/run/", {"topic": "the sea", **fields})
    assert response.status_code == 410
    assert MOVED in response.content.decode()
    streamed = post_without_javascript(
        visitor, f"/e/{old}/run/", {"topic": "the sea", **fields}, HTTP_ACCEPT="text/event-stream"
    )
    assert "This tool has moved." in streamed.content.decode()
    assert not Run.objects.exists() and not fake_openai.requests
    assert credits.balance(embed.pickaxe.owner) == 25


def test_a_form_of_the_old_address_is_refused_at_the_new_one(embed, fake_openai):
    visitor = Client()
    _, fields = embed_form(visitor, embed)
    rotate(Client(), embed)
    response = run_embed(visitor, embed, fields=fields)
    assert response.status_code == 400
    assert not Run.objects.exists()


def test_only_the_last_few_old_addresses_are_kept(embed):
    first = embed.token
    for _ in range(services.RETIRED_TOKENS_KEPT + 2):
        services.rotate_token(embed)
    assert RetiredToken.objects.filter(embed=embed).count() == services.RETIRED_TOKENS_KEPT
    assert Client().get(f"/e/{first}/").status_code == 404  # forgotten: an unknown address
    newest_old = RetiredToken.objects.filter(embed=embed).first().token
    assert Client().get(f"/e/{newest_old}/").status_code == 410


def test_an_unknown_address_is_still_404(client, embed):
    assert client.get("/e/never-issued/").status_code == 404
    assert client.post("/e/never-issued/run/", {"topic": "x"}).status_code == 404


def test_an_embed_deleted_with_its_pickaxe_forgets_its_old_addresses(embed):
    old = embed.token
    services.rotate_token(embed)
    embed.pickaxe.delete()
    assert not Embed.objects.exists() and not RetiredToken.objects.exists()
    assert Client().get(f"/e/{old}/").status_code == 404
