"""The project's admin site (config/admin.py): the Support group, the user page that
combines every app, and ledger entries linked to what caused them."""

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission

from accounts import plans
from billing.models import WebhookEvent
from config.admin import ProjectAdminSite
from credits import services as credit_services
from credits.models import Entry
from tests.pickaxes.factories import open_run

LEDGER = "/admin/credits/entry/"


@pytest.fixture
def superuser(make_user):
    return make_user(is_staff=True, is_superuser=True)


def test_the_default_admin_site_is_the_projects():
    assert isinstance(admin.site, ProjectAdminSite)


def test_the_support_group_may_view_everything_and_grant_or_deduct_credits_only(db):
    granted = set(Group.objects.get(name="Support").permissions.values_list("content_type__app_label", "codename"))
    every_view = set(
        Permission.objects.filter(codename__startswith="view_").values_list("content_type__app_label", "codename")
    )
    assert granted == every_view | {("credits", "grant_credits"), ("credits", "deduct_credits")}
    assert ("pickaxes", "view_run") in granted and ("billing", "view_webhookevent") in granted


def test_an_entry_written_by_a_webhook_links_to_its_stored_event(
    client, superuser, deliver, fake_stripe, settings, customer, user
):
    subscription = fake_stripe.create_subscription(customer, [(settings.STRIPE_PRICE_GOLD, 1)])
    assert deliver("customer.subscription.created", subscription, event_id="evt_gold_1").status_code == 200
    entry = Entry.objects.get(account__user=user, cause=Entry.Cause.STRIPE_EVENT)
    event = WebhookEvent.objects.get(event_id="evt_gold_1")
    assert (entry.cause_ref, entry.amount) == ("evt_gold_1", plans.GOLD.allowance - plans.FREE.allowance)

    client.force_login(superuser)
    html = client.get(LEDGER).content.decode()
    assert f'<a href="/admin/billing/webhookevent/{event.pk}/change/">evt_gold_1</a>' in html


def test_a_plan_set_by_staff_is_recorded_as_a_staff_cause(user, superuser):
    from billing.services import set_entitlement_by_staff

    set_entitlement_by_staff(user, gold=True, packs_100=0, packs_250=0, staff=superuser)
    entry = Entry.objects.get(account__user=user, kind="allowance", cause=Entry.Cause.STAFF)
    assert (entry.cause_ref, entry.staff) == ("", None)  # the plan's part stays apart from staff's own changes


def test_an_entry_of_a_run_and_its_refund_link_to_the_run(client, superuser, user, pickaxe):
    run = open_run(pickaxe, user, "k" * 20)
    client.force_login(superuser)
    assert f'<a href="/admin/pickaxes/run/{run.pk}/change/">run {run.pk}</a>' in client.get(LEDGER).content.decode()

    credit_services.refund(run.entry, note="upstream error")
    html = client.get(LEDGER).content.decode()
    assert f'<a href="/admin/pickaxes/run/{run.pk}/change/">refund of run {run.pk}</a>' in html


def test_staff_credit_actions_are_recorded_as_staff_causes(client, superuser, user):
    client.force_login(superuser)
    client.post(
        f"/admin/accounts/user/{user.pk}/credits/grant/",
        {"amount": "5", "expires_on": "2099-01-01", "reason": "sorry", "apply": "1"},
    )
    assert Entry.objects.get(kind="bonus").cause == Entry.Cause.STAFF
    assert Entry.objects.get(account__user=user, kind="allowance").cause == Entry.Cause.SIGNUP


def test_the_ledger_list_takes_the_same_queries_for_many_entries(
    client, superuser, user, django_assert_max_num_queries
):
    client.force_login(superuser)
    client.get(LEDGER)
    with django_assert_max_num_queries(12) as few:
        client.get(LEDGER)
    for number in range(20):
        credit_services.grant(user, 1, reason=f"grant {number}", staff=superuser, cause=Entry.Cause.STAFF)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(LEDGER)


def test_the_user_page_shows_plan_balance_key_status_and_the_credit_action_links(client, superuser, user):
    credit_services.spend(user)
    client.force_login(superuser)
    listing = client.get(f"/admin/accounts/user/?q={user.email}").content.decode()
    assert '<td class="field-plan">Free</td>' in listing
    assert f'<td class="field-balance">{plans.FREE.allowance - 1}</td>' in listing
    page = client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    for name, title in [
        ("grant", "Grant bonus credits"),
        ("deduct", "Deduct credits"),
        ("allowance", "Change the permanent allowance"),
        ("reset", "Give back every credit in use"),
    ]:
        assert f'<a href="/admin/accounts/user/{user.pk}/credits/{name}/">{title}</a>' in page
    assert f'href="/admin/pickaxes/run/?payer__id__exact={user.pk}">Runs</a>' in page
    assert ">Ledger</a>" in page and 'data-testid="balance-chart"' in page
    assert re.search(r"Plan and own key.*not set", page, re.S)


@pytest.fixture
def stored_event(db):
    from django.utils import timezone

    return WebhookEvent.objects.create(
        event_id="evt_reapply", type="customer.unknown_thing", created=timezone.now(), payload={"data": {"object": {}}}
    )


def _reapply(client, event):
    return client.post(
        "/admin/billing/webhookevent/", {"action": "reapply", "_selected_action": [event.pk]}, follow=True
    )


def test_webhook_reapply_needs_the_change_permission_view_only_support_cannot(client, make_user, stored_event):
    support = make_user(is_staff=True)
    support.groups.add(Group.objects.get(name="Support"))
    client.force_login(support)
    assert 'value="reapply"' not in client.get("/admin/billing/webhookevent/").content.decode()
    response = _reapply(client, stored_event)
    assert "Re-applied" not in response.content.decode()
    stored_event.refresh_from_db()
    assert stored_event.processed_at is None


def test_webhook_reapply_is_offered_to_staff_with_the_change_permission(client, superuser, stored_event):
    client.force_login(superuser)
    assert 'value="reapply"' in client.get("/admin/billing/webhookevent/").content.decode()
    assert "Re-applied 1 event(s)." in _reapply(client, stored_event).content.decode()
    stored_event.refresh_from_db()
    assert stored_event.processed_at is not None


def test_an_entrys_delete_page_says_entries_are_never_deleted_and_how_to_correct_one(client, superuser, user):
    entry = Entry.objects.filter(account__user=user).first()
    client.force_login(superuser)
    response = client.get(f"{LEDGER}{entry.pk}/delete/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "someone else" not in html
    assert "Ledger entries are never deleted" in html
    assert "add a correcting entry" in html
    assert f'href="/admin/accounts/user/{user.pk}/credits/grant/"' in html
    assert f'href="/admin/accounts/user/{user.pk}/credits/deduct/"' in html
    assert f'href="/admin/accounts/user/{user.pk}/change/"' in html
    assert client.post(f"{LEDGER}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Entry.objects.filter(pk=entry.pk).exists()


def test_the_admin_index_names_each_app_once(client, superuser):
    client.force_login(superuser)
    html = client.get("/admin/").content.decode()
    captions = re.findall(r'<caption>\s*<a [^>]*class="section"[^>]*>([^<]+)</a>', html)
    assert captions, html
    assert len(captions) == len(set(captions)), captions
    assert "Sign-in email addresses" in captions and "Accounts" in captions
