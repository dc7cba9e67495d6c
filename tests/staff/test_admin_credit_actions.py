"""Staff tools in the admin: each credit action through the admin views, audited and safe."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.plans import FREE, GOLD, PACK_100
from credits import selectors as credits
from credits import services as credit_services
from credits.models import Entry
from pickaxes import services as pickaxe_services
from pickaxes.models import Pickaxe, Run
from tests.pickaxes.factories import open_run

ACTION_URL = "/admin/accounts/user/{}/credits/{}/"


@pytest.fixture
def superuser(make_user):
    return make_user(is_staff=True, is_superuser=True)


@pytest.fixture
def support(make_user):
    member = make_user(is_staff=True)
    member.groups.add(Group.objects.get(name="Support"))
    return member


@pytest.fixture
def plain_staff(make_user):
    return make_user(is_staff=True)


def test_bonus_grants_grant_with_a_reason_records_staff_and_an_admin_log(client, superuser, user):
    client.force_login(superuser)
    response = client.post(
        ACTION_URL.format(user.pk, "grant"),
        {"amount": "50", "expires_on": "2099-01-01", "reason": "conference raffle", "apply": "1"},
    )
    assert response.status_code == 302
    entry = Entry.objects.get(kind="bonus")
    assert (entry.amount, entry.staff, entry.note) == (50, superuser, "conference raffle")
    assert credits.balance(user) == FREE.allowance + 50
    assert LogEntry.objects.filter(object_id=str(user.pk), change_message__contains="Granted 50").exists()


def test_bonus_grants_need_a_reason(client, superuser, user):
    client.force_login(superuser)
    response = client.post(
        ACTION_URL.format(user.pk, "grant"), {"amount": "50", "expires_on": "2099-01-01", "reason": "", "apply": "1"}
    )
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert not Entry.objects.filter(kind="bonus").exists()


def test_bonus_grants_deduct_counts_like_uses(client, superuser, user):
    client.force_login(superuser)
    client.post(ACTION_URL.format(user.pk, "deduct"), {"amount": "10", "reason": "refund abuse", "apply": "1"})
    entry = Entry.objects.get(kind="deduction")
    assert (entry.amount, entry.staff) == (-10, superuser)
    assert credits.balance(user) == FREE.allowance - 10


def test_bonus_grants_permanent_allowance_change(client, superuser, user):
    client.force_login(superuser)
    client.post(
        ACTION_URL.format(user.pk, "allowance"), {"change": "-5", "reason": "downgrade by contract", "apply": "1"}
    )
    assert credits.allowance(user) == FREE.allowance - 5
    response = client.post(ACTION_URL.format(user.pk, "allowance"), {"change": "0", "reason": "x", "apply": "1"})
    assert "other than 0" in response.content.decode()


def test_reset_the_30_day_window_gives_back_every_credit_in_use(client, superuser, user):
    for _ in range(5):
        credit_services.spend(user)
    credit_services.deduct(user, 3, reason="earlier")
    client.force_login(superuser)
    client.post(ACTION_URL.format(user.pk, "reset"), {"reason": "outage on 3 Dec", "apply": "1"})
    assert credits.balance(user) == FREE.allowance
    assert Entry.objects.filter(kind="refund", staff=superuser).count() == 6
    assert Entry.objects.filter(account__user=user).count() == 1 + 6 + 6  # nothing edited or deleted


def test_grant_from_the_user_list_to_several_users(client, superuser, make_user):
    first, second = make_user(), make_user()
    client.force_login(superuser)
    data = {"action": "credits_grant", "_selected_action": [first.pk, second.pk]}
    page = client.post("/admin/accounts/user/", data)
    assert "Grant bonus credits" in page.content.decode()
    client.post(
        "/admin/accounts/user/", {**data, "amount": "7", "expires_on": "2099-01-01", "reason": "beta", "apply": "1"}
    )
    assert credits.balance(first) == credits.balance(second) == FREE.allowance + 7


def test_refund_a_chosen_run(client, superuser, user, pickaxe):
    run = open_run(pickaxe, user, "r" * 20)
    pickaxe_services.finish_run(run, output="bad answer", model="m", prompt_tokens=1, completion_tokens=1)
    client.force_login(superuser)
    data = {"action": "refund", "_selected_action": [run.pk], "reason": "wrong output", "apply": "1"}
    client.post("/admin/pickaxes/run/", data)
    run.refresh_from_db()
    assert run.refunded and credits.balance(user) == FREE.allowance
    assert Entry.objects.get(kind="refund").staff == superuser
    client.post("/admin/pickaxes/run/", data)  # twice: refused, not doubled
    assert credits.balance(user) == FREE.allowance


def in_days(days):
    return f"{timezone.localdate() + timedelta(days=days):%Y-%m-%d}"


def test_support_staff_may_grant_up_to_the_ceiling(client, support, user, settings):
    settings.STAFF_CREDIT_CEILING = 100
    client.force_login(support)
    response = client.post(
        ACTION_URL.format(user.pk, "grant"),
        {"amount": "101", "expires_on": in_days(30), "reason": "big", "apply": "1"},
    )
    assert "Above your ceiling of 100" in response.content.decode()
    assert credits.balance(user) == FREE.allowance
    client.post(
        ACTION_URL.format(user.pk, "grant"), {"amount": "100", "expires_on": in_days(30), "reason": "ok", "apply": "1"}
    )
    assert credits.balance(user) == FREE.allowance + 100


def test_superusers_may_go_above_the_ceiling(client, superuser, user, settings):
    settings.STAFF_CREDIT_CEILING = 10
    client.force_login(superuser)
    client.post(
        ACTION_URL.format(user.pk, "grant"),
        {"amount": "500", "expires_on": "2099-01-01", "reason": "partner", "apply": "1"},
    )
    assert credits.balance(user) == FREE.allowance + 500


def test_support_staff_do_not_get_the_actions_outside_their_permissions(client, support, user):
    client.force_login(support)
    assert client.get(ACTION_URL.format(user.pk, "allowance")).status_code == 403
    assert client.get(ACTION_URL.format(user.pk, "reset")).status_code == 403
    page = client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert "Grant bonus credits" in page and "Change the permanent allowance" not in page


def test_staff_without_the_permission_do_not_see_the_actions(client, plain_staff, user):
    from django.contrib.auth.models import Permission

    plain_staff.user_permissions.add(
        Permission.objects.get(codename="view_user"), Permission.objects.get(codename="change_user")
    )
    client.force_login(plain_staff)
    listing = client.get("/admin/accounts/user/").content.decode()
    assert "credits_grant" not in listing
    assert client.get(ACTION_URL.format(user.pk, "grant")).status_code == 403
    assert "Grant bonus credits" not in client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()


def test_the_ledger_in_the_admin_is_read_only_and_filterable(client, superuser, user):
    credit_services.grant(user, 5, reason="x", staff=superuser)
    client.force_login(superuser)
    entry = Entry.objects.get(kind="bonus")
    assert client.get("/admin/credits/entry/?kind__exact=bonus").status_code == 200
    assert client.get(f"/admin/credits/entry/?staff__id__exact={superuser.pk}").status_code == 200
    assert client.get("/admin/credits/entry/add/").status_code == 403
    assert client.post(f"/admin/credits/entry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Entry.objects.filter(pk=entry.pk).exists()


def test_user_pages_show_plan_balance_allowance_chart_and_key_status(
    client, superuser, user, django_assert_max_num_queries
):
    credit_services.spend(user)
    client.force_login(superuser)
    listing = client.get("/admin/accounts/user/?q=" + user.email).content.decode()
    assert f'<td class="field-balance">{FREE.allowance - 1}</td>' in listing
    assert f'<td class="field-allowance">{FREE.allowance}</td>' in listing
    detail = client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert 'data-testid="balance-chart"' in detail and "not set" in detail


def test_setting_the_plan_on_the_user_page_resyncs_the_allowance(client, superuser, user):
    client.force_login(superuser)
    page = client.get(f"/admin/accounts/user/{user.pk}/change/")
    form = page.context["adminform"].form
    data = {key: value for key, value in form.initial.items() if value is not None and key in form.fields}
    data.update(
        {
            "email": user.email,
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "is_active": "on",
            "entitlement-TOTAL_FORMS": "1",
            "entitlement-INITIAL_FORMS": "0",
            "entitlement-MIN_NUM_FORMS": "0",
            "entitlement-MAX_NUM_FORMS": "1",
            "entitlement-0-gold": "on",
            "entitlement-0-packs_100": "1",
            "entitlement-0-packs_250": "0",
            "entitlement-0-user": str(user.pk),
        }
    )
    data.pop("password", None)
    data.pop("groups", None)
    data.pop("user_permissions", None)
    response = client.post(f"/admin/accounts/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert credits.allowance(user) == GOLD.allowance + PACK_100.allowance
    user.refresh_from_db()
    assert user.plan == "gold"


def test_unpublish_a_pickaxe(client, superuser, pickaxe):
    client.force_login(superuser)
    client.post("/admin/pickaxes/pickaxe/", {"action": "unpublish", "_selected_action": [pickaxe.pk]})
    pickaxe.refresh_from_db()
    assert pickaxe.visibility == Pickaxe.Visibility.PRIVATE
    assert client.get(f"/p/{pickaxe.slug}/").status_code == 404


def test_runs_in_the_admin_filter_by_status(client, superuser, user, pickaxe):
    open_run(pickaxe, user, "s" * 20)
    client.force_login(superuser)
    assert "1 credit" in client.get("/admin/pickaxes/run/?status__exact=running").content.decode()
    assert Run.objects.count() == 1


@pytest.mark.parametrize(("action", "field"), [("allowance", "change"), ("grant", "amount"), ("deduct", "amount")])
@pytest.mark.parametrize("amount", [str(10**20), str(-(10**20)), "2147483648"])
def test_admin_amounts_are_bounded_a_huge_amount_is_explained_never_a_500(
    client, superuser, user, action, field, amount
):
    client.force_login(superuser)
    data = {field: amount, "reason": "typo", "apply": "1", "expires_on": "2099-01-01"}
    response = client.post(ACTION_URL.format(user.pk, action), data)
    assert response.status_code == 200
    assert "Ensure this value is" in response.content.decode()
    assert not Entry.objects.filter(staff=superuser).exists()


def test_admin_amounts_are_bounded_pack_counts_on_an_entitlement(client, superuser, user):
    client.force_login(superuser)
    data = {"user": user.pk, "gold": "on", "packs_100": "2147483647", "packs_250": "0"}
    response = client.post("/admin/billing/entitlement/add/", data)
    assert (
        response.status_code == 200 and "Ensure this value is less than or equal to 1000" in response.content.decode()
    )
    assert credits.allowance(user) == FREE.allowance


def test_grant_expiry_support_staff_may_not_grant_beyond_the_cap_superusers_may(
    client, support, superuser, user, settings
):
    settings.STAFF_GRANT_MAX_DAYS = 365
    client.force_login(support)
    data = {"amount": "10", "expires_on": "9999-12-31", "reason": "forever", "apply": "1"}
    response = client.post(ACTION_URL.format(user.pk, "grant"), data)
    assert f"Choose {in_days(365)} or earlier" in response.content.decode()
    assert credits.balance(user) == FREE.allowance
    client.post(ACTION_URL.format(user.pk, "grant"), {**data, "expires_on": in_days(365)})
    assert credits.balance(user) == FREE.allowance + 10
    client.force_login(superuser)
    client.post(ACTION_URL.format(user.pk, "grant"), data)
    assert credits.balance(user) == FREE.allowance + 20


def test_daily_total_support_staff_stop_at_their_total_in_24_hours(client, support, make_user, settings):
    settings.STAFF_CREDIT_CEILING, settings.STAFF_CREDIT_DAILY_TOTAL = 100, 250
    client.force_login(support)
    users = [make_user() for _ in range(3)]
    data = {"amount": "100", "expires_on": in_days(30), "reason": "goodwill", "apply": "1"}
    for person in users[:2]:
        client.post(ACTION_URL.format(person.pk, "grant"), data)
    response = client.post(ACTION_URL.format(users[2].pk, "grant"), data)
    assert "Above your total of 250 credits a day (200 in the last 24 hours)" in response.content.decode()
    assert credits.balance(users[2]) == FREE.allowance
    client.post(ACTION_URL.format(users[2].pk, "deduct"), {**data, "amount": "60"})
    assert credits.balance(users[2]) == FREE.allowance  # deductions count towards the total too
    client.post(ACTION_URL.format(users[2].pk, "grant"), {**data, "amount": "50"})
    assert credits.balance(users[2]) == FREE.allowance + 50


def test_daily_total_counts_every_user_of_a_list_action(client, support, make_user, settings):
    settings.STAFF_CREDIT_CEILING, settings.STAFF_CREDIT_DAILY_TOTAL = 100, 250
    client.force_login(support)
    users = [make_user() for _ in range(3)]
    response = client.post(
        "/admin/accounts/user/",
        {
            "action": "credits_grant",
            "_selected_action": [person.pk for person in users],
            "amount": "100",
            "expires_on": in_days(30),
            "reason": "goodwill",
            "apply": "1",
        },
    )
    assert "Above your total of 250 credits a day" in response.content.decode()
    assert not Entry.objects.filter(kind="bonus").exists()


def test_daily_total_does_not_bind_superusers(client, superuser, user, settings):
    settings.STAFF_CREDIT_DAILY_TOTAL = 10
    client.force_login(superuser)
    data = {"amount": "500", "expires_on": in_days(30), "reason": "partner", "apply": "1"}
    client.post(ACTION_URL.format(user.pk, "grant"), data)
    assert credits.balance(user) == FREE.allowance + 500
