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
