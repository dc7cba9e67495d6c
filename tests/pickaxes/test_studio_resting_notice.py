"""The studio tells an owner at 0 credits that their embeds are resting, and until when."""

from django.utils import timezone

from credits import selectors as credit_selectors
from credits import services as credit_services


def out_of_credits(user):
    credit_services.set_allowance(user, 1, reason="test")
    credit_services.spend(user, key="one")


def test_at_0_credits_the_studio_and_the_editor_say_embeds_are_resting_until_the_next_credit(client, pickaxe):
    owner = pickaxe.owner
    out_of_credits(owner)
    back = timezone.localtime(credit_selectors.spending_status(owner).next_credit_at)
    client.force_login(owner)
    for path in ("/studio/", f"/studio/{pickaxe.slug}/"):
        html = client.get(path).content.decode()
        assert "your embeds are resting" in html, path
        assert "read that the tool is resting" in html
        assert f"until your next credit comes back on <strong>{back:%-d %b}" in html


def test_with_credits_the_studio_says_nothing_about_resting(client, pickaxe):
    client.force_login(pickaxe.owner)
    for path in ("/studio/", f"/studio/{pickaxe.slug}/"):
        assert 'data-testid="embed-resting"' not in client.get(path).content.decode()
