"""Publish and Unpublish in the studio: one button, a message, and the home page follows."""

import pytest

from pickaxes import services
from pickaxes.models import Pickaxe
from tests.pickaxes.factories import PickaxeFactory


@pytest.fixture
def draft(db):
    return PickaxeFactory(name="Haiku maker", visibility=Pickaxe.Visibility.PRIVATE)


def test_publish_from_the_studio_page_lists_the_pickaxe_on_the_home_page_and_says_so(client, draft):
    client.force_login(draft.owner)
    page = client.get(f"/studio/{draft.slug}/").content.decode()
    assert 'data-testid="publish"' in page and "Private: only you" in page
    response = client.post(f"/studio/{draft.slug}/publish/", {"publish": "yes"}, follow=True)
    assert response.redirect_chain[-1][0] == f"/studio/{draft.slug}/"
    page = response.content.decode()
    assert "“Haiku maker” is published" in page and 'data-testid="unpublish"' in page
    draft.refresh_from_db()
    assert draft.visibility == Pickaxe.Visibility.PUBLIC
    assert "Haiku maker" in client.get("/").content.decode()


def test_unpublish_from_the_studio_list_makes_the_pickaxe_private_and_goes_back_to_the_list(client, draft):
    services.set_published(pickaxe=draft, published=True)
    client.force_login(draft.owner)
    assert 'data-testid="unpublish"' in client.get("/studio/").content.decode()
    response = client.post(f"/studio/{draft.slug}/publish/", {"publish": "no", "back": "list"}, follow=True)
    assert response.redirect_chain[-1][0] == "/studio/"
    assert "“Haiku maker” is unpublished" in response.content.decode()
    draft.refresh_from_db()
    assert draft.visibility == Pickaxe.Visibility.PRIVATE
    assert "Haiku maker" not in client.get("/").content.decode()


def test_only_the_owner_can_publish_and_only_by_post(client, draft, user):
    client.force_login(user)
    assert client.post(f"/studio/{draft.slug}/publish/", {"publish": "yes"}).status_code == 404
    client.force_login(draft.owner)
    assert client.get(f"/studio/{draft.slug}/publish/").status_code == 405
    draft.refresh_from_db()
    assert draft.visibility == Pickaxe.Visibility.PRIVATE


def test_the_field_editor_says_one_choice_per_line_and_which_settings_apply_to_which_kind(client, draft):
    client.force_login(draft.owner)
    page = client.get(f"/studio/{draft.slug}/").content.decode()
    assert "Choices, one per line" in page
    # Without JavaScript every setting shows, so a note says which kind uses which.
    assert "<em>max length</em> to short and long text" in page and "<em>choices</em> to a choice" in page
    assert "data-text-only" in page
