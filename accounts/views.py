from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts import services
from accounts.forms import OwnApiKeyForm


@sensitive_post_parameters("key")  # never in error reports or logs
@login_required
@require_POST
def save_own_key(request):
    if not request.user.is_gold:
        messages.error(request, "Only Gold members can run on their own OpenAI key.")
        return redirect("account")
    form = OwnApiKeyForm(request.POST)
    if form.is_valid():
        services.save_own_api_key(request.user, form.cleaned_data["key"])
        messages.success(request, "Your key is saved. Your runs now use it and spend no credits.")
    else:
        messages.error(request, " ".join(form.errors["key"]))
    return redirect("account")


@login_required
@require_POST
def delete_own_key(request):
    services.delete_own_api_key(request.user)
    messages.success(request, "Your key is deleted. Your runs use credits again.")
    return redirect("account")
