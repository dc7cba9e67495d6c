import csv
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from embeds import selectors, services
from embeds.api import PROBLEMS, api, problem_type
from embeds.forms import ApiKeyForm, EmbedSettingsForm
from embeds.models import ApiKey, Embed
from pickaxes import charts, results, running
from pickaxes import selectors as pickaxe_selectors
from pickaxes.forms import run_form_class, run_inputs

VISITOR_COOKIE = "pkx_visitor"


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
        return running.stream(running.finished(results.refused(services.UNAVAILABLE)), visitor=True)
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


def _frame_policy(response, embed):
    """Only this view may be framed, and only by the allowed domains."""
    response._csp_config = {
        "frame-ancestors": services.frame_ancestors(embed),
        "default-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
    }
    return response


@xframe_options_exempt
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
        return _frame_policy(HttpResponseForbidden("This tool is not available on this website."), embed)
    visitor_id = services.visitor_id_from_cookie(request.COOKIES.get(VISITOR_COOKIE))
    form = run_form_class(embed.pickaxe)(initial={"submission_key": services.new_visitor_id()})
    token = services.issue_form_token(embed, visitor_id=visitor_id, parent_host=parent_host)
    response = _render(request, embed, form, embed_token=token)
    _set_visitor_cookie(response, visitor_id)
    return response


@csrf_exempt  # inside a third-party iframe there is no usable CSRF cookie: the signed token protects it
@xframe_options_exempt
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
    form = run_form_class(embed.pickaxe)(request.POST)
    try:
        visitor_id, parent_host = services.read_form_token(request.POST.get("embed_token"), embed)
    except services.BadFormToken as error:  # nothing is charged; the visitor is told to reload
        return _answer(request, embed, form, running.finished(results.refused(str(error))), wants_stream, status=400)
    if parent_host and not services.host_allowed(embed, parent_host):
        return HttpResponseForbidden("This tool is not available on this website.")
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


def _answer(request, embed, form, job, wants_stream, *, embed_token="", status=200):
    """The stream; or the page, at once when the result is known, else when the run ends
    (sent whole, with no thread waiting for the model meanwhile)."""
    if wants_stream:
        return running.stream(job, visitor=True)
    if job.result:
        return _render(request, embed, form, embed_token=embed_token, result=job.result.for_visitor(), status=status)

    async def page_when_done():
        result = (await running.result(job)).for_visitor()
        page = await running.database(_render, request, embed, form, embed_token=embed_token, result=result)
        yield page.content

    return _frame_policy(running.page_when_done(page_when_done()), embed)


def _render(request, embed, form, *, embed_token="", result=None, status=200):
    context = {"embed": embed, "pickaxe": embed.pickaxe, "form": form, "embed_token": embed_token, "result": result}
    return _frame_policy(render(request, "embeds/embed.html", context, status=status), embed)


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
        },
    )


@login_required
@require_POST
def rotate(request, slug):
    pickaxe = pickaxe_selectors.owned_pickaxe(slug, request.user)
    services.rotate_token(services.embed_for(pickaxe))
    messages.success(
        request, "The embed has a new address. Replace the snippet on your site: the old one has stopped working."
    )
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
