from embeds.models import Embed


def settings_data(**overrides):
    data = {
        "enabled": "on",
        "runs_per_visitor": "5",
        "period": "day",
        "allowed_domains": "",
        "theme": "dark",
        "height": "640",
        "runs_per_ip_per_day": "50",
    }
    data.update(overrides)
    return data


def test_embed_settings_are_for_the_owner_only(client, pickaxe, user):
    client.force_login(user)
    assert client.get(f"/studio/{pickaxe.slug}/embed/").status_code == 404
    assert client.post(f"/studio/{pickaxe.slug}/embed/rotate/").status_code == 404


def test_the_settings_page_shows_the_snippet_and_a_live_preview(client, pickaxe):
    client.force_login(pickaxe.owner)
    html = client.get(f"/studio/{pickaxe.slug}/embed/").content.decode()
    embed = Embed.objects.get(pickaxe=pickaxe)
    assert f'&lt;iframe src="http://testserver/e/{embed.token}/"' in html
    assert f'<iframe class="preview-frame" src="http://testserver/e/{embed.token}/?preview"' in html
    assert "Copy snippet" in html


def test_saving_settings_normalises_domains(client, pickaxe):
    client.force_login(pickaxe.owner)
    response = client.post(
        f"/studio/{pickaxe.slug}/embed/",
        settings_data(allowed_domains="https://Example.com/page\nblog.example.org\nexample.com"),
    )
    assert response.status_code == 302
    embed = Embed.objects.get(pickaxe=pickaxe)
    assert embed.domains() == ["example.com", "blog.example.org"]
    assert (embed.runs_per_visitor, embed.theme, embed.height) == (5, "dark", 640)


def test_bad_settings_are_explained_and_nothing_changes(client, pickaxe):
    client.force_login(pickaxe.owner)
    html = client.post(
        f"/studio/{pickaxe.slug}/embed/",
        settings_data(allowed_domains="not a domain!", runs_per_visitor="500", height="50"),
    ).content.decode()
    assert "is not a domain name" in html
    assert "At most 100" in html
    assert "between 200 and 2000" in html
    assert Embed.objects.get(pickaxe=pickaxe).runs_per_visitor == 0


def test_unpublished_pickaxe_the_owner_is_told_that_a_private_pickaxe_stops_its_embed(client, pickaxe):
    pickaxe.visibility = "private"
    pickaxe.save()
    client.force_login(pickaxe.owner)
    html = client.get(f"/studio/{pickaxe.slug}/embed/").content.decode()
    assert 'data-testid="embed-private"' in html
