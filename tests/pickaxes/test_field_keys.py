"""A field's key is whatever its creator typed: no key may take the place of the run form's
own names (its `pickaxe`, its `submission_key`, what its template reads such as
`form.errors`, or what the page posts beside the inputs), on the site, in the embed or in
the API."""

import html
import re

import pytest

from embeds.services import embed_for
from pickaxes.models import InputField, Run
from tests.clients import post_without_javascript
from tests.embeds.conftest import embed_form
from tests.pickaxes.factories import PickaxeFactory

# The form's class attribute and hidden field, what the page posts beside the inputs, and
# attributes and methods of forms.Form (some read by the run form's templates).
KEYS = [
    "pickaxe",
    "submission_key",
    "mode",
    "embed_token",
    "csrfmiddlewaretoken",
    "data",
    "fields",
    "initial",
    "clean",
    "is_valid",
    "errors",
    "non_field_errors",
    "visible_fields",
    "hidden_fields",
    "media",
    "prefix",
    "cleaned_data",
    "add_prefix",
]


def pickaxe_with_key(key, *, owner=None):
    extra = {"owner": owner} if owner else {}
    pickaxe = PickaxeFactory(with_topic_field=False, prompt_template=f"Write about {{{{{key}}}}}.", **extra)
    InputField.objects.create(pickaxe=pickaxe, label="What about?", key=key, max_length=200)
    return pickaxe


def posted_form(page):
    """The names and values a browser would post from the page's run form (the inputs' own
    value left empty), refusing a page that posts one name twice."""
    form = re.search(r"<form[^>]*data-run-form.*?</form>", page, re.S).group(0)
    names = re.findall(r'<(?:input|textarea|select)[^>]*\bname="([^"]+)"', form)
    assert len(names) == len(set(names)), f"a name is posted twice: {names}"
    values = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    return {name: html.unescape(values.get(name, "")) for name in names}


def typed_input_name(page):
    """The name of the form's one visible input."""
    form = re.search(r"<form[^>]*data-run-form.*?</form>", page, re.S).group(0)
    return re.search(r'<input type="text" name="([^"]+)"', form).group(1)


def assert_ran_with(fake_openai, run, key):
    assert run.status == "succeeded", run.error
    assert run.inputs == {key: "the sea"}
    assert fake_openai.requests[-1]["json"]["messages"][-1]["content"] == "Write about the sea."


@pytest.mark.parametrize("key", KEYS)
def test_any_key_runs_on_the_site(client, user, fake_openai, key):
    pickaxe = pickaxe_with_key(key)
    client.force_login(user)
    page = client.get(f"/p/{pickaxe.slug}/")
    assert page.status_code == 200
    text = page.content.decode()
    data = {**posted_form(text), typed_input_name(text): "the sea"}
    response = post_without_javascript(client, f"/p/{pickaxe.slug}/run/", data)
    assert response.status_code == 200
    assert "Hello from the fake model" in response.content.decode()
    assert_ran_with(fake_openai, Run.objects.get(), key)
    assert Run.objects.get().source == "site"


@pytest.mark.parametrize("key", ["pickaxe", "mode", "submission_key", "errors"])
def test_any_key_runs_from_the_studios_test_button(client, user, fake_openai, key):
    pickaxe = pickaxe_with_key(key, owner=user)
    client.force_login(user)
    page = client.get(f"/studio/{pickaxe.slug}/")
    assert page.status_code == 200
    text = page.content.decode()
    data = {**posted_form(text), typed_input_name(text): "the sea"}
    assert data["mode"] == "test"
    response = post_without_javascript(client, f"/p/{pickaxe.slug}/run/", data)
    assert response.status_code == 200
    run = Run.objects.get()
    assert run.source == "test"
    assert_ran_with(fake_openai, run, key)


@pytest.mark.parametrize("key", KEYS)
def test_any_key_runs_in_the_embed(db, client, fake_openai, key):
    embed = embed_for(pickaxe_with_key(key))
    response, _ = embed_form(client, embed)
    assert response.status_code == 200
    text = response.content.decode()
    data = {**posted_form(text), typed_input_name(text): "the sea"}
    response = post_without_javascript(client, f"/e/{embed.token}/run/", data)
    assert response.status_code == 200
    assert "Hello from the fake model" in response.content.decode()
    assert_ran_with(fake_openai, Run.objects.get(), key)


@pytest.mark.parametrize("key", ["pickaxe", "errors"])
def test_a_key_with_an_invalid_value_gets_the_form_back_with_its_error(client, user, fake_openai, key):
    pickaxe = pickaxe_with_key(key)
    client.force_login(user)
    text = client.get(f"/p/{pickaxe.slug}/").content.decode()
    data = {**posted_form(text), typed_input_name(text): "x" * 201}
    response = post_without_javascript(client, f"/p/{pickaxe.slug}/run/", data)
    assert response.status_code == 400
    assert "at most 200 characters" in response.content.decode()
    assert not Run.objects.exists()


@pytest.mark.parametrize("key", ["mode", "submission_key", "pickaxe"])
def test_an_anonymous_visitors_inputs_wait_through_log_in_whatever_the_key(client, user, key):
    pickaxe = pickaxe_with_key(key)
    text = client.get(f"/p/{pickaxe.slug}/").content.decode()
    data = {**posted_form(text), typed_input_name(text): "the sea"}
    assert client.post(f"/p/{pickaxe.slug}/run/", data).status_code == 302
    client.force_login(user)
    page = client.get(f"/p/{pickaxe.slug}/").content.decode()
    assert f'name="{typed_input_name(page)}" value="the sea"' in page


def test_an_optional_number_left_empty_reaches_the_prompt_as_nothing_not_none(client, user, fake_openai):
    pickaxe = PickaxeFactory(prompt_template="Write about {{topic}}.{{count}}")
    InputField.objects.create(pickaxe=pickaxe, label="How many", key="count", kind="number", required=False)
    client.force_login(user)
    text = client.get(f"/p/{pickaxe.slug}/").content.decode()
    data = {**posted_form(text), "topic": "the sea", "count": ""}
    assert post_without_javascript(client, f"/p/{pickaxe.slug}/run/", data).status_code == 200
    assert Run.objects.get().inputs == {"topic": "the sea", "count": ""}
    assert fake_openai.requests[-1]["json"]["messages"][-1]["content"] == "Write about the sea."
