"""At 0 credits the owner is told where they work that their embeds are resting, and until
when; the embed page's preview shows the resting state instead of Submit. Visitors are told
only that the tool is resting, never anything about the account."""

import pytest
from django.test import Client
from django.utils import timezone

from credits import selectors as credit_selectors
from credits import services as credit_services

RESTING = "This tool is resting. Please try again later."


@pytest.fixture
def resting_owner(embed):
    """The owner spent their one credit: at 0, with a credit coming back in 30 days."""
    owner = embed.pickaxe.owner
    credit_services.set_allowance(owner, 1, reason="test")
    credit_services.spend(owner, key="one")
    assert credit_selectors.available(owner) == 0
    return owner


def test_at_0_credits_the_embed_page_says_visitors_are_told_it_is_resting_and_until_when(client, embed, resting_owner):
    client.force_login(resting_owner)
    html = client.get(f"/studio/{embed.pickaxe.slug}/embed/").content.decode()
    assert 'data-testid="embed-resting"' in html
    assert f"read “{RESTING}”" in html
    back = timezone.localtime(credit_selectors.spending_status(resting_owner).next_credit_at)
    assert f"until your next credit comes back on <strong>{back:%-d %b}" in html
    assert f'src="http://testserver/e/{embed.token}/?preview"' in html


def test_with_credits_the_embed_page_says_nothing_about_resting(client, embed):
    client.force_login(embed.pickaxe.owner)
    html = client.get(f"/studio/{embed.pickaxe.slug}/embed/").content.decode()
    assert 'data-testid="embed-resting"' not in html


def test_the_preview_at_0_credits_shows_the_resting_state_instead_of_submit(embed, resting_owner):
    html = Client().get(f"/e/{embed.token}/?preview").content.decode()
    assert RESTING in html
    assert "<form" not in html and "Submit" not in html
    assert resting_owner.email not in html and "credit" not in html.lower()


def test_the_preview_with_credits_is_the_embed_itself(embed):
    html = Client().get(f"/e/{embed.token}/?preview").content.decode()
    assert "Submit" in html and RESTING not in html


def test_visitors_without_the_hint_still_get_the_form_and_are_told_only_at_submit(embed, resting_owner):
    html = Client().get(f"/e/{embed.token}/").content.decode()
    assert "Submit" in html and RESTING not in html
