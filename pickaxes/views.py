import secrets
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_POST

from accounts.forms import OwnApiKeyForm
from accounts.models import OwnApiKey
from accounts.services import OwnKeyUnreadable
from credits import forecast
from credits import selectors as credit_selectors
from credits.forms import LowBalanceAlertForm
from credits.services import OutOfCredits
from pickaxes import activity, results, running, selectors, services
from pickaxes.forms import ChatMessageForm, PickaxeEditor, input_name, run_form_class, run_inputs

PENDING_INPUTS = "pickaxes:pending-inputs"


def browse(request):
    query = request.GET.get("q", "").strip()[:100]
    order = request.GET.get("order", "newest")
    page = Paginator(selectors.public_pickaxes(query=query, order=order), 24).get_page(request.GET.get("page"))
    return render(request, "pickaxes/browse.html", {"page": page, "query": query, "order": order})


def pickaxe_page(request, slug):
    pickaxe = selectors.pickaxe_for_page(slug, request.user)
    if pickaxe.is_chat:
        conversation = _conversation(request, pickaxe, request.GET.get("c"), testing=False)
        context = _chat_context(request, pickaxe, conversation, typed=_pending_message(request, pickaxe))
        return render(request, "pickaxes/chat.html", context)
    pending = request.session.get(PENDING_INPUTS, {})
    initial = pending.pop(slug, None) if request.user.is_authenticated else pending.get(slug)
    if initial is not None:
        request.session[PENDING_INPUTS] = pending
    elif "again" in request.GET:  # "Run again with these inputs", from a past run's page
        initial = selectors.inputs_to_run_again(request.user, request.GET["again"], pickaxe)
    form = run_form_class(pickaxe)(inputs=initial, initial={"submission_key": new_submission_key()})
    return render(
        request,
        "pickaxes/pickaxe.html",
        {"pickaxe": pickaxe, "form": form, "before_submit": _before_submit(request.user)},
    )


def _before_submit(user):
    """What the page says about the balance before Submit (credits.selectors.LowBalance);
    None for a visitor, and for a Gold member whose runs go on their own key."""
    if not user.is_authenticated or (user.is_gold and OwnApiKey.objects.filter(user=user).exists()):
        return None
    return credit_selectors.low_balance(user)


def _conversation(request, pickaxe, public_id, *, testing):
    """The signed-in person's conversation with this public id on this pickaxe (Test's in
    the studio, the site's on its page), or None for a new one; 404 for anyone else's."""
    if not public_id:
        return None
    if not request.user.is_authenticated:
        raise Http404("No such conversation.")
    conversation = selectors.conversation_for(public_id, services.site_holder(request.user), pickaxe=pickaxe)
    if (conversation.source == "test") != testing:
        raise Http404("No such conversation.")
    return conversation


def _pending_message(request, pickaxe):
    """The message a visitor typed before logging in, once they are back (then forgotten)."""
    pending = request.session.get(PENDING_INPUTS, {})
    if not request.user.is_authenticated or pickaxe.slug not in pending:
        return ""
    typed = pending.pop(pickaxe.slug)
    request.session[PENDING_INPUTS] = pending
    return str(typed.get("message", "")) if isinstance(typed, dict) else ""


def _chat_context(request, pickaxe, conversation, *, testing=False, form=None, typed=""):
    """What the chat (the site's page, or Test in the studio) shows: the conversation's
    messages, read when the page is rendered (after the answer has ended, without
    JavaScript), the message form, and the balance before Send."""
    public_id = conversation.public_id if conversation else ""
    if form is None:
        initial = {"message": typed, "conversation": public_id, "submission_key": new_submission_key()}
        form = ChatMessageForm(initial=initial)
    base = reverse("studio_edit", args=[pickaxe.slug]) if testing else pickaxe.get_absolute_url()
    return {
        "pickaxe": pickaxe,
        "chat": SimpleLazyObject(lambda: selectors.chat_view(conversation)),
        "message_form": form,
        "conversation_id": public_id,
        "retry_key": new_submission_key(),
        "new_chat_url": base + ("#test" if testing else ""),
        "chat_url": base,
        "mode": "test" if testing else "",
        "before_submit": _before_submit(request.user),
    }


def new_submission_key():
    return secrets.token_urlsafe(24)


def account(request):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    user = request.user
    credits = credit_selectors.overview(user)
    return render(
        request,
        "account.html",
        {
            "credits": credits,
            "balance_parts": credits.breakdown.parts(user.plan),
            "chart": forecast.step_chart(credits.forecast),
            "alert_form": LowBalanceAlertForm(alert_settings=credits.alert_settings),
            "activity": activity.activity_page(user, page=request.GET.get("page")),
            "replenish_days": settings.CREDIT_REPLENISH_DAYS,
            "runs": selectors.recent_runs(user),
            "own_key": OwnApiKey.objects.filter(user=user).first(),
            "own_key_form": OwnApiKeyForm(),
        },
    )


def run(request, slug):
    """Run a pickaxe: charge, then stream the model's output (or send the page when the run
    ends). The person who presses Submit (or the owner, for Test) pays."""
    if request.method != "POST":
        # A reload of the page a message was answered on (no JavaScript): back to the chat,
        # with its conversation.
        conversation = request.GET.get("c", "")[:32]
        return redirect(
            reverse("pickaxe", args=[slug]) + (f"?{urlencode({'c': conversation})}" if conversation else "")
        )
    pickaxe = selectors.pickaxe_for_run(slug, request.user)
    wants_stream = "text/event-stream" in request.headers.get("Accept", "")
    testing = request.POST.get("mode") == "test"

    if not request.user.is_authenticated:
        _remember_inputs(request, pickaxe)
        login = f"{reverse('account_login')}?next={pickaxe.get_absolute_url()}"
        if not wants_stream:
            return redirect(login)
        return running.respond(running.finished(results.log_in_first(login)), stream=True)
    if testing and pickaxe.owner_id != request.user.pk:
        return HttpResponse("Only the owner can test a pickaxe.", status=403)
    if pickaxe.is_chat:
        return _send_message(request, pickaxe, wants_stream=wants_stream, testing=testing)

    form = run_form_class(pickaxe)(request.POST)
    if not form.is_valid():
        job = running.finished(results.form_errors(form))
        return running.respond(job, stream=wants_stream, page=_page(request, pickaxe, form), status=400)
    inputs = run_inputs(form.cleaned_data)
    try:
        started = services.start_site_run(
            pickaxe=pickaxe,
            user=request.user,
            inputs=inputs,
            submission_key=form.cleaned_data["submission_key"],
            testing=testing,
        )
    except OutOfCredits as refusal:
        job = running.finished(results.out_of_credits(refusal.next_return_at))
    except OwnKeyUnreadable:
        job = running.finished(results.own_key_unreadable())
    else:
        job = running.begin(started)
    fresh_form = run_form_class(pickaxe)(initial={**inputs, "submission_key": new_submission_key()})
    return running.respond(job, stream=wants_stream, page=_page(request, pickaxe, fresh_form))


def _send_message(request, pickaxe, *, wants_stream, testing):
    """Send one message of a chat: one run, one credit (the sender pays; the owner, for
    Test). Without JavaScript the whole conversation comes back once the answer has ended."""
    form = ChatMessageForm(request.POST)
    conversation = _conversation(request, pickaxe, request.POST.get("conversation"), testing=testing)
    if not form.is_valid():
        job = running.finished(results.form_errors(form))
        page = _chat_page(request, pickaxe, conversation, testing=testing, form=form)
        return running.respond(job, stream=wants_stream, page=page, status=400)
    try:
        started = services.start_site_message(
            pickaxe=pickaxe,
            user=request.user,
            message=form.cleaned_data["message"],
            submission_key=form.cleaned_data["submission_key"],
            conversation=conversation,
            testing=testing,
        )
    except OutOfCredits as refusal:
        job, kept = running.finished(results.out_of_credits(refusal.next_return_at)), form.cleaned_data["message"]
    except OwnKeyUnreadable:
        job, kept = running.finished(results.own_key_unreadable()), form.cleaned_data["message"]
    else:
        job, kept, conversation = running.begin(started), "", started.run.conversation
    fresh = ChatMessageForm(
        initial={
            "message": kept,
            "conversation": conversation.public_id if conversation else "",
            "submission_key": new_submission_key(),
        }
    )
    page = _chat_page(request, pickaxe, conversation, testing=testing, form=fresh)
    return running.respond(job, stream=wants_stream, page=page)


def _chat_page(request, pickaxe, conversation, *, testing, form):
    """The page a chat's message is answered on without JavaScript: the chat's page, or
    Test in the studio's editor."""
    context = _chat_context(request, pickaxe, conversation, testing=testing, form=form)
    if testing:
        editor = PickaxeEditor(instance=pickaxe)
        context.update(form=editor.form, fields=editor.fields)
        return request, "pickaxes/studio_edit.html", context
    return request, "pickaxes/chat.html", context


def _remember_inputs(request, pickaxe):
    """An anonymous visitor's inputs (a chat's message) wait in the session while they log in."""
    fields = {field.key for field in pickaxe.input_fields}
    pending = request.session.get(PENDING_INPUTS, {})
    if pickaxe.is_chat:
        pending[pickaxe.slug] = {"message": request.POST.get("message", "")[: services.field_max_chars(None)]}
        request.session[PENDING_INPUTS] = pending
        return
    pending[pickaxe.slug] = {
        key: request.POST[input_name(key)][: services.field_max_chars(None)]
        for key in fields
        if input_name(key) in request.POST
    }
    request.session[PENDING_INPUTS] = pending


def _page(request, pickaxe, form):
    """The page a run's result is shown on, without JavaScript: (request, template, context)
    for running.respond. Test shows it in the studio's editor."""
    if request.POST.get("mode") == "test":
        editor = PickaxeEditor(instance=pickaxe)
        context = {"pickaxe": pickaxe, "form": editor.form, "fields": editor.fields, "test_form": form}
        return request, "pickaxes/studio_edit.html", context
    return request, "pickaxes/pickaxe.html", {"pickaxe": pickaxe, "form": form}


@login_required
def run_history(request):
    """The runs a person paid for or submitted, newest first, paged, beside their
    conversations (each message a run), paged on their own."""
    page = selectors.run_history_page(request.user, page=request.GET.get("page"))
    chats = selectors.conversation_history_page(request.user, page=request.GET.get("chats"))
    return render(request, "pickaxes/run_history.html", {"page": page, "chats": chats})


@login_required
def run_detail(request, run_id):
    """One past run: its inputs, its output (what was received so far, while it runs), its charge."""
    run = selectors.run_for(request.user, run_id)
    return render(
        request,
        "pickaxes/run_detail.html",
        {
            "run": run,
            "inputs": selectors.labelled_inputs(run),
            "result": results.ended(run, balance=None),
            "conversation_url": selectors.conversation_of_run(request.user, run),
        },
    )


@login_required
def studio(request):
    return render(
        request,
        "pickaxes/studio.html",
        {
            "pickaxes": selectors.studio_pickaxes(request.user),
            "credit_status": credit_selectors.spending_status(request.user),
        },
    )


@login_required
def studio_new(request):
    editor = PickaxeEditor(request.POST or None)
    if request.method == "POST" and editor.is_valid():
        pickaxe = services.save_pickaxe(owner=request.user, form=editor.form, fields_formset=editor.saved_fields())
        messages.success(request, f"“{pickaxe.name}” is saved. Try it with Test.")
        return redirect("studio_edit", slug=pickaxe.slug)
    return render(
        request,
        "pickaxes/studio_edit.html",
        {"form": editor.form, "fields": editor.fields, "problems": editor.problems},
    )


@login_required
@require_POST
def studio_publish(request, slug):
    """Publish or unpublish (the button's `publish` is "yes" or "no"), then back to where the
    button was: the studio's list, or the pickaxe's studio page."""
    pickaxe = selectors.owned_pickaxe(slug, request.user)
    published = request.POST.get("publish") == "yes"
    services.set_published(pickaxe=pickaxe, published=published)
    if published:
        messages.success(
            request, f"“{pickaxe.name}” is published: it is listed on the home page, and anyone can run it."
        )
    else:
        messages.success(request, f"“{pickaxe.name}” is unpublished: it is private, and only you can open it.")
    if request.POST.get("back") == "list":
        return redirect("studio")
    return redirect("studio_edit", slug=pickaxe.slug)


@login_required
def studio_edit(request, slug):
    pickaxe = selectors.owned_pickaxe(slug, request.user)
    editor = PickaxeEditor(request.POST or None, instance=pickaxe)
    if request.method == "POST" and editor.is_valid():
        pickaxe = services.save_pickaxe(owner=request.user, form=editor.form, fields_formset=editor.saved_fields())
        messages.success(request, "Saved.")
        return redirect("studio_edit", slug=pickaxe.slug)
    pickaxe.refresh_from_db()
    context = {
        "pickaxe": pickaxe,
        "form": editor.form,
        "fields": editor.fields,
        "problems": editor.problems,
        "credit_status": credit_selectors.spending_status(request.user),
    }
    if pickaxe.is_chat:
        conversation = _conversation(request, pickaxe, request.GET.get("c"), testing=True)
        context = {**_chat_context(request, pickaxe, conversation, testing=True), **context}
    else:
        context["test_form"] = run_form_class(pickaxe)(initial={"submission_key": new_submission_key()})
    return render(request, "pickaxes/studio_edit.html", context)
