import csv
import functools
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
    HttpResponseNotAllowed,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from credits import selectors as credit_selectors
from embeds import selectors, services
from embeds.api import PROBLEMS, api, problem_type
from embeds.forms import AllowHostForm, ApiKeyForm, EmbedSettingsForm
from embeds.models import ApiKey, Embed
from pickaxes import charts, results, running
from pickaxes import selectors as pickaxe_selectors
from pickaxes.forms import ChatMessageForm, run_form_class, run_inputs

VISITOR_COOKIE = "pkx_visitor"
# A chat message's answer names its conversation here, for the page's script to continue it.
CONVERSATION_HEADER = "Pickaxe-Conversation"


def _embed_or_404(token):
    embed = (
        Embed.objects.select_related("pickaxe__owner").prefetch_related("pickaxe__fields").filter(token=token).first()
    )
    if embed is None:
        raise Http404("No such embed.")
    return embed


def _unavailable(request, embed, wants_stream=False):
    """A disabled embed, or one whose pickaxe is private: a neutral answer that names nothing."""
    if wants_stream:
        return running.respond(running.finished(results.refused(services.UNAVAILABLE)), stream=True, visitor=True)
    page = render(request, "embeds/unavailable.html", {"message": services.UNAVAILABLE}, status=404)
    return _frame_policy(page, embed)


def _host(url):
    return (urlsplit(url or "").hostname or "").lower()


def _set_visitor_cookie(response, visitor_id):
    # Django's set_cookie has no `partitioned` argument: write the header ourselves.
    # The cookie only keeps the id across page loads; the signed form token carries it.
    response.headers["Set-Cookie"] = (
        f"{VISITOR_COOKIE}={visitor_id}; Max-Age=31536000; Path=/e/; SameSite=None; Secure; HttpOnly; Partitioned"
    )


def _frame_policy(response, embed, *, report=True):
    """Only this view may be framed, and only by the allowed domains.

    Browsers report a refused framing (a website not on the allowed domains) to the
    embed's report address (`report-uri`), for its owner to see. Not `report-to`: with it,
    Chromium ignores `report-uri`, and it sent no report of a refused frame through the
    Reporting API (tests/browser/test_embed_owner.py waited 80 s). `report=False` names
    no address: for an answer already counted, and for an old address's "moved" page,
    which must not lead to the new one."""
    response._csp_config = {
        "frame-ancestors": services.frame_ancestors(embed),
        "default-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
    }
    if report:
        # Relative: browsers resolve it against the embed's own address.
        response._csp_config["report-uri"] = [reverse("embed_report", args=[embed.token])]
    return response


def _moved(request, embed):
    """What an old address answers: the tool has moved; no form, nothing about the owner."""
    if "text/event-stream" in request.headers.get("Accept", ""):
        return running.respond(running.finished(results.refused(services.MOVED)), stream=True, visitor=True)
    page = render(request, "embeds/unavailable.html", {"message": services.MOVED, "moved": True}, status=410)
    return _frame_policy(page, embed, report=False)


def _moved_when_retired(view):
    """An embed view at an old address (its owner made a new one) answers "moved": the
    view's 404 is turned into that answer, so a current address costs no extra query."""

    @functools.wraps(view)
    def answer(request, token, *args, **kwargs):
        try:
            return view(request, token, *args, **kwargs)
        except Http404:
            embed = selectors.embed_of_retired_token(token)
            if embed is None:
                raise
            return _moved(request, embed)

    return answer


@xframe_options_exempt
@_moved_when_retired
def embed(request, token):
    embed = _embed_or_404(token)
    if not services.is_available(embed):
        return _unavailable(request, embed)
    parent_host = _host(request.headers.get("Referer"))
    if (
        parent_host
        and parent_host != request.get_host().split(":")[0]
        and not services.host_allowed(embed, parent_host)
    ):
        services.count_refused_host(embed=embed, host=parent_host)
        refused = HttpResponseForbidden("This tool is not available on this website.")
        return _frame_policy(refused, embed, report=False)  # counted here: no report to count it again
    if "preview" in request.GET and credit_selectors.spending_status(embed.pickaxe.owner).empty:
        # The owner's preview (the embed page's iframe) at 0 credits: what visitors get.
        return _render(request, embed, None, resting=services.RESTING)
    visitor_id = services.visitor_id_from_cookie(request.COOKIES.get(VISITOR_COOKIE))
    token = services.issue_form_token(embed, visitor_id=visitor_id, parent_host=parent_host)
    if embed.pickaxe.is_chat:
        # The visitor's latest conversation, kept by their visitor id; "New conversation"
        # (?new) shows none until its first message starts one.
        conversation = None if "new" in request.GET else selectors.latest_embed_conversation(embed, visitor_id)
        chat = selectors.embed_chat(embed, conversation)
        response = _render(request, embed, None, embed_token=token, chat=chat)
    else:
        form = run_form_class(embed.pickaxe)(initial={"submission_key": services.new_visitor_id()})
        response = _render(request, embed, form, embed_token=token)
    _set_visitor_cookie(response, visitor_id)
    return response


@csrf_exempt  # inside a third-party iframe there is no usable CSRF cookie: the signed token protects it
@xframe_options_exempt
@_moved_when_retired
def embed_run(request, token):
    """Run the embed's pickaxe for a visitor, paid by its owner; streamed, or the page when done."""
    if request.method != "POST":
        return redirect("embed", token=token)
    embed = _embed_or_404(token)
    wants_stream = "text/event-stream" in request.headers.get("Accept", "")
    if not services.is_available(embed):
        return _unavailable(request, embed, wants_stream)
    origin = _host(request.headers.get("Origin") or request.headers.get("Referer"))
    if origin and origin != request.get_host().split(":")[0] and not services.host_allowed(embed, origin):
        return HttpResponseForbidden("This tool is not available on this website.")
    form = None if embed.pickaxe.is_chat else run_form_class(embed.pickaxe)(request.POST)
    try:
        visitor_id, parent_host = services.read_form_token(request.POST.get("embed_token"), embed)
    except services.BadFormToken as error:  # nothing is charged; the visitor is told to reload
        job = running.finished(results.refused(str(error)))
        chat = selectors.embed_chat(embed, None) if embed.pickaxe.is_chat else None
        return _answer(request, embed, form, job, wants_stream, status=400, chat=chat)
    if parent_host and not services.host_allowed(embed, parent_host):
        return HttpResponseForbidden("This tool is not available on this website.")
    if embed.pickaxe.is_chat:
        return _send_message(request, embed, visitor_id, parent_host, wants_stream)
    if not form.is_valid():
        return _answer(request, embed, form, running.finished(results.form_errors(form)), wants_stream, status=400)

    inputs = run_inputs(form.cleaned_data)
    try:
        started = services.start_embed_run(
            embed=embed,
            visitor_id=visitor_id,
            visitor_ip=services.hash_ip(request.META.get("REMOTE_ADDR", "")),
            inputs=inputs,
            submission_key=form.cleaned_data["submission_key"],
        )
    except services.EmbedRefused as refusal:
        job = running.finished(results.refused(refusal.message))
    else:
        job = running.begin(started)
    fresh = run_form_class(embed.pickaxe)(initial={**inputs, "submission_key": services.new_visitor_id()})
    token = services.issue_form_token(embed, visitor_id=visitor_id, parent_host=parent_host)
    return _answer(request, embed, fresh, job, wants_stream, embed_token=token)


def _send_message(request, embed, visitor_id, parent_host, wants_stream):
    """Send a chat message for a visitor, paid by the owner: the stream, or (without
    JavaScript) the whole conversation once the answer has ended. The conversation it
    continues must be the visitor's own (another's is a 404)."""
    conversation = None
    if request.POST.get("conversation"):
        conversation = selectors.visitor_conversation(embed, visitor_id, request.POST["conversation"])
    token = services.issue_form_token(embed, visitor_id=visitor_id, parent_host=parent_host)
    form = ChatMessageForm(request.POST)  # the site's rules for a message
    if not form.is_valid():
        job = running.finished(results.form_errors(form))
        chat = selectors.embed_chat(embed, conversation)
        return _answer(request, embed, None, job, wants_stream, embed_token=token, status=400, chat=chat)
    message = form.cleaned_data["message"]
    try:
        started = services.start_embed_run(
            embed=embed,
            visitor_id=visitor_id,
            visitor_ip=services.hash_ip(request.META.get("REMOTE_ADDR", "")),
            inputs={"message": message},
            submission_key=form.cleaned_data["submission_key"],
            conversation=conversation,
        )
    except services.EmbedRefused as refusal:
        job = running.finished(results.refused(refusal.message))
    else:
        job = running.begin(started)
        conversation = started.run.conversation
    # The page without JavaScript: the conversation before this message, the message, and
    # (once the answer has ended) `result`.
    chat = selectors.embed_chat(embed, conversation, sending=message, before=getattr(job.started, "run", None))
    response = _answer(request, embed, None, job, wants_stream, embed_token=token, chat=chat)
    if conversation is not None and conversation.pk:
        response[CONVERSATION_HEADER] = conversation.public_id
    return response


def _answer(request, embed, form, job, wants_stream, *, embed_token="", status=200, chat=None):
    """The stream, or the embed's page with the result, as its visitor may see it."""
    page = (request, "embeds/embed.html", _context(embed, form, embed_token, chat=chat))
    response = running.respond(job, stream=wants_stream, page=page, visitor=True, status=status)
    return _frame_policy(response, embed)


def _context(embed, form, embed_token, *, resting="", chat=None):
    return {
        "embed": embed,
        "pickaxe": embed.pickaxe,
        "form": form,
        "embed_token": embed_token,
        "resting": resting,
        "chat": chat,
        # A chat's forms on one page share one key: the page is left by whichever is sent
        # (the script makes a new key after each message).
        "submission_key": services.new_visitor_id(),
        "message_max_chars": settings.RUN_INPUT_MAX_CHARS,
    }


def _render(request, embed, form, *, embed_token="", status=200, resting="", chat=None):
    context = _context(embed, form, embed_token, resting=resting, chat=chat)
    response = render(request, "embeds/embed.html", context, status=status)
    return _frame_policy(response, embed)


# The largest CSP report body read: one report is well under a kilobyte.
REPORT_MAX_BYTES = 8 * 1024
REPORT_MAX_HOSTS = 5


@csrf_exempt  # browsers post reports without cookies or tokens; the embed token is the address
def embed_report(request, token):
    """Where browsers report the CSP violations of an embed's page: each website refused
    by frame-ancestors is counted for the owner (services.count_refused_host). Anything
    else is ignored (204); a body that is too large or not a report gets 400."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        length = 0
    if length > REPORT_MAX_BYTES:
        return HttpResponseBadRequest("Too large.")
    try:
        body = request.body
    except RequestDataTooBig:
        return HttpResponseBadRequest("Too large.")
    if len(body) > REPORT_MAX_BYTES:
        return HttpResponseBadRequest("Too large.")
    try:
        hosts = services.refused_hosts_in_report(
            body, request.content_type or "", own_host=_host(f"//{request.get_host()}")
        )
    except services.BadReport:
        return HttpResponseBadRequest("Not a CSP report.")
    embed = Embed.objects.filter(token=token).first()
    if embed is not None:
        for host in hosts[:REPORT_MAX_HOSTS]:
            services.count_refused_host(embed=embed, host=host)
    return HttpResponse(status=204)


@login_required
def settings_page(request, slug):
    pickaxe = pickaxe_selectors.owned_pickaxe(slug, request.user)
    embed = services.embed_for(pickaxe)
    form = EmbedSettingsForm(request.POST or None, instance=embed)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Embed settings saved.")
        return redirect("embed_settings", slug=slug)
    embed_url = request.build_absolute_uri(reverse("embed", args=[embed.token]))
    origin = request.build_absolute_uri("/").rstrip("/")
    return render(
        request,
        "embeds/settings.html",
        {
            "pickaxe": pickaxe,
            "embed": embed,
            "form": form,
            "embed_url": embed_url,
            "origin": origin,
            "visitors": selectors.visitor_count(embed),
            "refused_hosts": selectors.refused_hosts(embed),
            "credit_status": credit_selectors.spending_status(request.user),
            "resting_message": services.RESTING,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def rotate(request, slug):
    """A new address for the embed: GET asks first (what it does to the sites that use the
    old snippet), POST makes it."""
    pickaxe = pickaxe_selectors.owned_pickaxe(slug, request.user)
    embed = services.embed_for(pickaxe)
    if request.method == "GET":
        return render(request, "embeds/rotate_confirm.html", {"pickaxe": pickaxe, "moved_message": services.MOVED})
    services.rotate_token(embed)
    messages.success(
        request,
        "The embed has a new address. Replace the snippet on your site: the old one has stopped working "
        "and now tells visitors that the tool has moved.",
    )
    return redirect("embed_settings", slug=slug)


@login_required
@require_POST
def allow_host(request, slug):
    """Add a refused website to the embed's allowed domains."""
    pickaxe = pickaxe_selectors.owned_pickaxe(slug, request.user)
    form = AllowHostForm(request.POST)
    if form.is_valid():
        host = form.cleaned_data["host"]
        services.allow_domain(services.embed_for(pickaxe), host)
        messages.success(request, f"{host} is now an allowed domain: the embed shows there.")
    else:
        messages.error(request, "That is not a domain name: nothing was changed.")
    return redirect("embed_settings", slug=slug)


@login_required
def api_keys(request):
    """The owner's API keys: make one (its secret is shown once, on this answer only), see
    and revoke them."""
    form = ApiKeyForm(request.POST or None, owner=request.user)
    new_key = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        new_key = services.create_api_key(
            owner=request.user,
            name=data["name"],
            expires_at=form.expires_at(),
            pickaxes=data["pickaxes"],
            runs_per_minute=data["runs_per_minute"],
            runs_per_end_user=data["runs_per_end_user"],
            end_user_period=data["end_user_period"],
            budget_per_30_days=data["budget_per_30_days"],
        )
        form = ApiKeyForm(owner=request.user)
    response = render(
        request,
        "embeds/api_keys.html",
        {"form": form, "keys": selectors.api_keys_of(request.user), "new_key": new_key, "now": timezone.now()},
    )
    response["Cache-Control"] = "no-store"  # the page may hold a secret
    return response


@login_required
@require_POST
def api_key_revoke(request, key_id):
    key = get_object_or_404(ApiKey, pk=key_id, owner=request.user)
    services.revoke_api_key(key=key)
    messages.success(request, f"The key {key.prefix}… is revoked: calls with it are refused from now on.")
    return redirect("api_keys")


def api_docs(request):
    """The API's guide, in the site's layout: how to call it, with examples to copy that run
    as written (built from the reader's own pickaxes, else the public ones), and every
    endpoint and error of the OpenAPI schema."""
    schema = api.get_openapi_schema()
    endpoints = [
        {
            "method": method.upper(),
            "path": path,
            "summary": operation.get("summary", ""),
            "description": operation.get("description", ""),
            "statuses": sorted(operation.get("responses", {})),
        }
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    ]
    problems = [
        {"name": name, "type": problem_type(name), "status": status, "title": title}
        for name, (status, title) in PROBLEMS.items()
    ]
    examples = selectors.api_examples(request.user)
    return render(
        request,
        "embeds/api_docs.html",
        {
            "endpoints": endpoints,
            "problems": problems,
            "origin": request.build_absolute_uri("/").rstrip("/"),
            "example": examples[0] if examples else None,
            "more_examples": examples[1:],
            "chat": selectors.api_chat_example(request.user),
        },
    )


# The studio's usage page: pickaxes' runs, and what only embeds knows (API keys, end users).


@login_required
def studio_usage(request, slug):
    pickaxe = pickaxe_selectors.owned_pickaxe(slug, request.user)
    days = pickaxe_selectors.runs_per_day(pickaxe)
    return render(
        request,
        "embeds/usage.html",
        {
            "pickaxe": pickaxe,
            "chart": charts.usage_chart(days),
            "days": days,
            "totals": pickaxe_selectors.usage_totals(pickaxe),
            "chat_totals": selectors.chat_totals(pickaxe) if pickaxe.is_chat else None,
            "embed_credits": pickaxe_selectors.embed_credits(pickaxe),
            "insight": selectors.usage_insight(pickaxe),
            "api_usage": selectors.api_usage(pickaxe),
            "runs": pickaxe_selectors.usage_runs(pickaxe, page=request.GET.get("page")),
        },
    )


@login_required
def studio_usage_csv(request, slug):
    pickaxe = pickaxe_selectors.owned_pickaxe(slug, request.user)
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{pickaxe.slug}-runs.csv"'
    writer = csv.writer(response)
    writer.writerow(selectors.EXPORT_COLUMNS)
    writer.writerows(selectors.runs_for_export(pickaxe))
    return response
