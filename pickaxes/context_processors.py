from functools import partial

from credits.selectors import available


def credit_balance(request):
    """`credit_balance` in every template; computed only where a template shows it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"credit_balance": partial(available, user)}
