from functools import partial

from credits import selectors


def credit_balance(request):
    """`credit_balance` in every template; queried only where a template shows it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"credit_balance": partial(selectors.available, user)}
