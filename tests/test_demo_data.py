"""`make run` runs demo_data, which says how to open the site and the admin."""

from io import StringIO

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from pickaxes.management.commands import demo_data


def run_demo_data():
    out = StringIO()
    call_command("demo_data", stdout=out)
    return out.getvalue()


def test_with_debug_on_a_staff_account_is_made_and_the_admin_address_printed(db, settings):
    settings.DEBUG = True
    printed = run_demo_data()
    assert "http://127.0.0.1:8000/admin/" in printed and demo_data.STAFF_EMAIL in printed
    assert demo_data.STAFF_PASSWORD in printed
    browser = Client()
    assert browser.login(email=demo_data.STAFF_EMAIL, password=demo_data.STAFF_PASSWORD)
    assert browser.get("/admin/").status_code == 200
    run_demo_data()  # again: nothing new
    assert get_user_model().objects.filter(email=demo_data.STAFF_EMAIL).count() == 1


def test_with_debug_off_no_staff_account_is_made_and_the_command_to_make_one_is_printed(db, settings):
    settings.DEBUG = False
    printed = run_demo_data()
    assert "manage.py createsuperuser" in printed and demo_data.STAFF_PASSWORD not in printed
    assert not get_user_model().objects.filter(is_staff=True).exists()


def test_the_demo_length_in_words_is_bounded_and_out_of_range_is_refused_before_any_charge(db, settings, user):
    from credits import selectors as credits
    from pickaxes.models import Run
    from tests.clients import post_without_javascript

    settings.OPENAI_API_KEY = ""
    settings.DEMO_MODEL_DELAY_SECONDS = 0
    run_demo_data()
    browser = Client()
    browser.force_login(user)
    page = browser.get("/p/explain-like-im-new/").content.decode()
    assert 'min="50"' in page and 'max="600"' in page
    for words in ("5", "5000"):
        data = {"topic": "the sea", "words": words, "submission_key": f"words-{words}-0123456789"}
        response = post_without_javascript(browser, "/p/explain-like-im-new/run/", data)
        assert response.status_code == 400
        assert "Ensure this value is" in response.content.decode()
    assert not Run.objects.exists() and credits.balance(user) == 25
    data = {"topic": "the sea", "words": "100", "submission_key": "words-100-0123456789"}
    assert post_without_javascript(browser, "/p/explain-like-im-new/run/", data).status_code == 200
    assert Run.objects.get().status == "succeeded"


def test_run_again_it_gives_an_older_demo_pickaxe_its_fields_bounds(db):
    from pickaxes.models import InputField

    run_demo_data()
    words = InputField.objects.get(pickaxe__slug="explain-like-im-new", key="words")
    InputField.objects.filter(pk=words.pk).update(min_value=None, max_value=None)  # as made before the bounds
    run_demo_data()
    words.refresh_from_db()
    assert (words.min_value, words.max_value) == (50, 600)
    assert InputField.objects.filter(pickaxe__slug="explain-like-im-new").count() == 2


def test_demo_data_adds_the_public_chat_study_buddy_once_and_the_demo_model_answers_it(db, settings, user):
    from pickaxes.models import Pickaxe, Run
    from tests.clients import post_without_javascript

    settings.OPENAI_API_KEY = ""
    settings.DEMO_MODEL_DELAY_SECONDS = 0
    run_demo_data()
    run_demo_data()
    buddy = Pickaxe.objects.get(slug="study-buddy")
    assert buddy.is_chat and buddy.visibility == "public" and buddy.opening_message and len(buddy.starter_list()) == 4
    assert "Study buddy" in Client().get("/").content.decode()
    browser = Client()
    browser.force_login(user)
    data = {"message": "Quiz me on French verbs", "conversation": "", "submission_key": "buddy-one-0123456789"}
    html = post_without_javascript(browser, "/p/study-buddy/run/", data).content.decode()
    conversation = Run.objects.get().conversation.public_id
    data = {"message": "être", "conversation": conversation, "submission_key": "buddy-two-0123456789"}
    html = post_without_javascript(browser, "/p/study-buddy/run/", data).content.decode()
    assert "This is message 2 of our chat" in html and "after 2 earlier answers" in html
    assert "study partner" not in html  # the hidden instructions stay hidden
