from functools import partial

from credits.selectors import available
from pickaxes import selectors

LOGIN_PAGES = ("account_login", "account_signup")


def credit_balance(request):
    """`credit_balance` in every template; computed only where a template shows it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"credit_balance": partial(available, user)}


def pickaxe_to_run(request):
    """On the log-in and sign-up pages that a pickaxe's Submit sent you to (?next=/p/<slug>/),
    `pickaxe_to_run`, so that they can say what logging in is for."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.url_name not in LOGIN_PAGES:
        return {}
    return {"pickaxe_to_run": selectors.pickaxe_named_in(request.GET.get("next") or request.POST.get("next"))}
