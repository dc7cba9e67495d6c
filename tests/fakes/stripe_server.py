"""A small fake Stripe API: real HTTP on 127.0.0.1, for the real `stripe` SDK (16.x).

Point the SDK at it with
`stripe.StripeClient(key, base_addresses={"api": server.url})` (the SDK adds `/v1/...`).

Over HTTP it answers (form-encoded bodies, JSON answers in Stripe's shapes):

- customers: `POST /v1/customers`, `GET|POST /v1/customers/{id}`, `GET /v1/customers`
  (filter `email`);
- products: `POST /v1/products`, `GET /v1/products/{id}`, `GET /v1/products`;
- prices: `POST /v1/prices` (with `transfer_lookup_key`, `product_data`),
  `GET /v1/prices/{id}`, `GET /v1/prices` (filters `lookup_keys`, `active`, `product`,
  `currency`, `type`, `recurring[interval]`);
- `POST /v1/checkout/sessions`, `GET /v1/checkout/sessions/{id}` (`expand[]=line_items`);
- `POST /v1/billing_portal/sessions`;
- subscriptions: `GET /v1/subscriptions/{id}`, `GET /v1/subscriptions` (filters `customer`,
  `price`, `status`, where `all` includes canceled ones and no status leaves them out),
  `POST /v1/subscriptions/{id}` (`cancel_at_period_end`, `metadata`, `items`),
  `DELETE /v1/subscriptions/{id}` (cancels now);
- `GET /v1/events/{id}` and `GET /v1/invoices/{id}` for events and invoices made by the
  Python helpers below.

Lists are newest first with `limit` (default 10), `starting_after`, `ending_before` and
`has_more`; `expand[]` works for id fields (`customer`, `items.data.price.product`, ...).
A POST repeated with the same `Idempotency-Key` gets the first answer again
(`Idempotent-Replayed: true`), or a 400 `idempotency_error` when its parameters differ.
Unknown top-level parameters get Stripe's 400 `parameter_unknown` (the allowed names come
from the SDK's own `*CreateParams` types), unknown paths a 404, a missing or wrong key a 401.

Subscriptions are made and changed by tests in Python, not over HTTP:
`create_subscription`, `update_subscription`, `delete_subscription`,
`complete_checkout_session` (turns an open session into a subscription, as paying would).
Also `create_customer`, `create_product`, `create_price`, `create_invoice`, and the
`get_*` readers. Every helper returns the object as the API would show it now (a copy).

`webhook(event_type, data_object, *, secret, ...)` builds a signed event payload and its
`Stripe-Signature` header, which `stripe.Webhook.construct_event` accepts.

Every HTTP request is recorded in `requests` as a dict: `method`, `path` (no query string),
`query` and `form` (parsed into nested dicts and lists, as Stripe reads
`line_items[0][price]=x`: `{"line_items": [{"price": "x"}]}`), `body` (raw text),
`headers` (lower-cased names) and `status` (of the answer). `find_requests(method, path)`
and `last_request(method, path)` filter them.

Knobs, set per test on the server object:

- `api_key`: the accepted secret key (default "sk_test_fake"); None accepts any.
- `api_version`: the `api_version` stamped on events (default: the SDK's pinned version).
- `strict_params`: refuse unknown top-level parameters (default True).
- `latency`: seconds to wait before each answer.
- `fail(status, ...)`: answer matching requests with a Stripe-style error (see there);
  `failures` holds the rules, `failures.clear()` removes them.
"""

import copy
import hashlib
import hmac
import json
import re
import secrets
import string
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

try:  # the version the installed SDK sends in Stripe-Version
    from stripe._api_version import _ApiVersion

    DEFAULT_API_VERSION = _ApiVersion.CURRENT
except Exception:  # pragma: no cover - the SDK is a dependency of the project
    DEFAULT_API_VERSION = "2025-03-31.basil"

DAY = 24 * 60 * 60
SUBSCRIPTION_STATUSES = {
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "paused",
}
_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


class StripeError(Exception):
    """An error answer in Stripe's shape: raise it in a route, the handler sends it."""

    def __init__(self, status, message, *, type=None, code=None, param=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or _default_error_type(status)
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self):
        error = {"message": self.message, "type": self.type}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        return {"error": error}


def _default_error_type(status):
    if status == 402:
        return "card_error"
    if status >= 500:
        return "api_error"
    return "invalid_request_error"


def _missing(kind, object_id, param="id", status=404):
    return StripeError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


# --- form parsing ----------------------------------------------------------------------

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_form(text: str):
    """Stripe's form encoding into nested dicts and lists.

    `a[b]=1` → `{"a": {"b": "1"}}`; `a[0][b]=1` → `{"a": [{"b": "1"}]}`; `a[]=1&a[]=2` →
    `{"a": ["1", "2"]}`. Values stay strings, as on the wire.
    """
    root = {}
    for key, value in parse_qsl(text or "", keep_blank_values=True):
        match = _KEY.match(key)
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))] if match else [key]
        node = root
        for position, part in enumerate(parts):
            if part == "":  # `[]`: the next element of a list
                part = str(len(node))
            if position == len(parts) - 1:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
    return _listify(root)


def _listify(node):
    if not isinstance(node, dict):
        return node
    node = {key: _listify(value) for key, value in node.items()}
    if node and all(key.isdigit() for key in node):
        return [node[key] for key in sorted(node, key=int)]
    return node


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, dict):  # sparse indices like a[1]=x parse as lists already
        return list(value.values())
    return value if isinstance(value, list) else [value]


def _int(params, name, *, default=None, param=None):
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StripeError(400, f"Invalid integer: {value}", param=param or name) from None


def _bool(params, name, *, default=None, param=None):
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise StripeError(400, f"Invalid boolean: {value}", param=param or name)


def _metadata(value, current=None, *, param="metadata"):
    """Stripe's metadata rules: keys merge into the current ones, "" deletes a key."""
    result = dict(current or {})
    if value in (None, ""):
        return {} if value == "" else result
    if not isinstance(value, dict):
        raise StripeError(400, "Invalid object", param=param)
    for key, item in value.items():
        if item in ("", None):
            result.pop(key, None)
        elif isinstance(item, (dict, list)):
            raise StripeError(400, "Invalid metadata value: must be a string", param=f"{param}[{key}]")
        else:
            result[key] = str(item)
    return result


# --- allowed parameters, from the SDK's own types --------------------------------------


def _sdk_param_names(module_name, class_name):
    try:
        import importlib

        from stripe._request_options import RequestOptions

        cls = getattr(importlib.import_module(module_name), class_name)
        options = RequestOptions.__required_keys__ | RequestOptions.__optional_keys__
        return frozenset((cls.__required_keys__ | cls.__optional_keys__) - options)
    except Exception:  # pragma: no cover - no check when the SDK's types are not there
        return None


_PARAMS = {
    "customer.create": ("stripe.params", "CustomerCreateParams"),
    "customer.update": ("stripe.params", "CustomerUpdateParams"),
    "customer.list": ("stripe.params", "CustomerListParams"),
    "product.create": ("stripe.params", "ProductCreateParams"),
    "product.list": ("stripe.params", "ProductListParams"),
    "price.create": ("stripe.params", "PriceCreateParams"),
    "price.list": ("stripe.params", "PriceListParams"),
    "checkout.session.create": ("stripe.params.checkout", "SessionCreateParams"),
    "portal.session.create": ("stripe.params.billing_portal", "SessionCreateParams"),
    "subscription.list": ("stripe.params", "SubscriptionListParams"),
    "subscription.update": ("stripe.params", "SubscriptionUpdateParams"),
    "subscription.cancel": ("stripe.params", "SubscriptionCancelParams"),
}
_PARAM_NAMES = {}


def _allowed(operation):
    if operation not in _PARAM_NAMES:
        _PARAM_NAMES[operation] = _sdk_param_names(*_PARAMS[operation])
    return _PARAM_NAMES[operation]


# --- the server ------------------------------------------------------------------------


class FakeStripeServer:
    """Start with `start()` (or `with FakeStripeServer() as server:`), stop with `stop()`."""

    def __init__(self):
        self.api_key = "sk_test_fake"
        self.api_version = DEFAULT_API_VERSION
        self.strict_params = True
        self.latency = 0.0
        self.failures = []
        self.requests = []
        self.customers = {}
        self.products = {}
        self.prices = {}
        self.subscriptions = {}  # raw records; read them with get_subscription()
        self.checkout_sessions = {}
        self.sessions_without_url = False  # a Checkout Session that comes back with no URL
        self.portal_sessions = {}
        self.invoices = {}
        self.events = {}
        self._inline_prices = set()  # made by a session's line_items[][price_data]
        self._session_extras = {}  # checkout session id → line items and subscription_data
        self._idempotent = {}  # (api key, Idempotency-Key) → (request signature, answer)
        self._lock = threading.RLock()
        self._httpd = None
        self._thread = None

    # -- lifecycle --

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- knobs and request log --

    def fail(
        self,
        status,
        *,
        times=None,
        method=None,
        path=None,
        type=None,
        code=None,
        message=None,
        should_retry=None,
    ):
        """Answer matching requests (after the key check) with an error instead.

        `times`: how many requests to fail (None: all). `method` ("GET"/"POST"/"DELETE") and
        `path` (a regular expression searched in the path) narrow which ones.
        `should_retry` sets the `Stripe-Should-Retry` header the SDK obeys (a 5xx or 409
        without it is retried when the client has `max_network_retries`).
        """
        self.failures.append(
            {
                "status": status,
                "times": times,
                "method": method.upper() if method else None,
                "path": path,
                "type": type,
                "code": code or ("rate_limit" if status == 429 else None),
                "message": message or _FAILURE_MESSAGES.get(status, "An error occurred."),
                "should_retry": should_retry,
            }
        )

    def find_requests(self, method=None, path=None):
        """Recorded requests, optionally only one method and/or exact path."""
        return [
            request
            for request in list(self.requests)
            if (method is None or request["method"] == method.upper()) and (path is None or request["path"] == path)
        ]

    def last_request(self, method=None, path=None):
        found = self.find_requests(method, path)
        if not found:
            raise AssertionError(f"no {method or ''} request to {path or 'any path'} recorded")
        return found[-1]

    # -- Python helpers: objects --

    def create_customer(self, email=None, *, name=None, metadata=None, id=None):
        with self._lock:
            params = {"email": email, "name": name, "metadata": metadata or {}, "id": id}
            return self._render(self._create_customer(_stringify(params)))

    def create_product(self, name, *, metadata=None, id=None, active=True, description=None):
        params = {"name": name, "metadata": metadata or {}, "id": id, "active": active}
        params["description"] = description
        with self._lock:
            return self._render(self._create_product(_stringify(params)))

    def create_price(
        self,
        product,
        unit_amount,
        *,
        currency="eur",
        interval="month",
        interval_count=1,
        lookup_key=None,
        nickname=None,
        metadata=None,
        active=True,
        transfer_lookup_key=False,
    ):
        """A price for `product` (an id); `interval=None` makes a one-time price."""
        params = {
            "product": product,
            "unit_amount": unit_amount,
            "currency": currency,
            "lookup_key": lookup_key,
            "nickname": nickname,
            "metadata": metadata or {},
            "active": active,
            "transfer_lookup_key": transfer_lookup_key,
        }
        if interval:
            params["recurring"] = {"interval": interval, "interval_count": interval_count}
        with self._lock:
            return self._render(self._create_price(_stringify(params)))

    def get_customer(self, customer_id):
        return self._get(self.customers, "customer", customer_id)

    def get_product(self, product_id):
        return self._get(self.products, "product", product_id)

    def get_price(self, price_id):
        return self._get(self.prices, "price", price_id)

    def price_by_lookup_key(self, lookup_key):
        with self._lock:
            for price in self.prices.values():
                if price["lookup_key"] == lookup_key:
                    return self._render(price)
        raise KeyError(f"no price with lookup key {lookup_key!r}")

    def get_checkout_session(self, session_id):
        return self._get(self.checkout_sessions, "checkout.session", session_id)

    def get_subscription(self, subscription_id):
        return self._get(self.subscriptions, "subscription", subscription_id)

    def get_invoice(self, invoice_id):
        return self._get(self.invoices, "invoice", invoice_id)

    def _get(self, store, kind, object_id):
        with self._lock:
            if object_id not in store:
                raise KeyError(f"No such {kind}: {object_id!r}")
            return self._render(store[object_id])

    # -- Python helpers: subscriptions --

    def create_subscription(
        self,
        customer,
        items,
        status="active",
        current_period_end=None,
        metadata=None,
        *,
        current_period_start=None,
        cancel_at_period_end=False,
        created=None,
    ) -> dict:
        """A subscription for `customer` (an id) with `items`: `[(price, quantity), ...]`.

        A price is an id or a lookup key; an item may also be a bare price or a dict
        `{"price": ..., "quantity": ...}`. Periods default to now → now + 30 days.
        """
        with self._lock:
            if customer not in self.customers:
                raise ValueError(f"No such customer: {customer!r}")
            _check_status(status)
            now = int(created if created is not None else time.time())
            start = int(current_period_start if current_period_start is not None else now)
            end = int(current_period_end if current_period_end is not None else start + 30 * DAY)
            subscription = {
                "id": new_id("sub_"),
                "object": "subscription",
                "created": now,
                "customer": customer,
                "status": status,
                "start_date": now,
                "current_period_start": start,
                "current_period_end": end,
                "cancel_at_period_end": bool(cancel_at_period_end),
                "canceled_at": now if status == "canceled" else None,
                "ended_at": now if status == "canceled" else None,
                "metadata": {str(k): str(v) for k, v in (metadata or {}).items()},
                "_items": [],
            }
            subscription["_items"] = [
                self._new_item(subscription["id"], price, quantity, now) for price, quantity in self._items_arg(items)
            ]
            if not subscription["_items"]:
                raise ValueError("a subscription needs at least one item")
            self.subscriptions[subscription["id"]] = subscription
            return self._render(subscription)

    def update_subscription(
        self,
        subscription_id,
        items=None,
        status=None,
        current_period_end=None,
        metadata=None,
        *,
        current_period_start=None,
        cancel_at_period_end=None,
    ) -> dict:
        """Change a subscription. `items` replaces all items (an item keeps its `si_` id when
        its price stays); `metadata` merges (a None value deletes a key)."""
        with self._lock:
            subscription = self._subscription(subscription_id)
            now = int(time.time())
            if items is not None:
                old = {item["price"]: item for item in subscription["_items"]}
                new_items = []
                for price, quantity in self._items_arg(items):
                    if price in old:
                        item = old.pop(price)
                        item["quantity"] = quantity
                    else:
                        item = self._new_item(subscription_id, price, quantity, now)
                    new_items.append(item)
                if not new_items:
                    raise ValueError("a subscription needs at least one item")
                subscription["_items"] = new_items
            if status is not None:
                _check_status(status)
                subscription["status"] = status
                if status == "canceled":
                    subscription["canceled_at"] = subscription["canceled_at"] or now
                    subscription["ended_at"] = subscription["ended_at"] or now
            if current_period_start is not None:
                subscription["current_period_start"] = int(current_period_start)
            if current_period_end is not None:
                subscription["current_period_end"] = int(current_period_end)
            if cancel_at_period_end is not None:
                subscription["cancel_at_period_end"] = bool(cancel_at_period_end)
                subscription["canceled_at"] = now if cancel_at_period_end else None
            if metadata is not None:
                merged = dict(subscription["metadata"])
                for key, value in metadata.items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[str(key)] = str(value)
                subscription["metadata"] = merged
            return self._render(subscription)

    def delete_subscription(self, subscription_id) -> dict:
        """Cancel now, as Stripe does at the end of a subscription (status "canceled")."""
        with self._lock:
            self._cancel(self._subscription(subscription_id))
            return self._render(self.subscriptions[subscription_id])

    def complete_checkout_session(self, session_id, *, status="active", current_period_end=None) -> dict:
        """What paying does: the open session becomes "complete" and, in subscription mode,
        a subscription is made from its line items (with `subscription_data[metadata]`).
        A session without a customer gets a new one from `customer_email`.
        Returns the session (its `subscription` field holds the new id)."""
        with self._lock:
            session = self.checkout_sessions.get(session_id)
            if session is None:
                raise KeyError(f"No such checkout.session: {session_id!r}")
            if session["status"] != "open":
                raise ValueError(f"checkout session {session_id} is {session['status']}, not open")
            extras = self._session_extras[session_id]
            if not session["customer"]:
                customer = self._create_customer({"email": session["customer_email"], "metadata": {}})
                session["customer"] = customer["id"]
            if session["mode"] == "subscription":
                subscription = self.create_subscription(
                    session["customer"],
                    [(item["price"], item["quantity"]) for item in extras["line_items"]],
                    status=status,
                    current_period_end=current_period_end,
                    metadata=extras["subscription_metadata"],
                )
                session["subscription"] = subscription["id"]
            email = self.customers[session["customer"]]["email"]
            session["customer_details"] = {"email": email, "name": None, "phone": None}
            session["status"] = "complete"
            session["payment_status"] = "paid"
            session["url"] = None
            return self._render(session)

    def create_invoice(self, subscription_id, *, paid=True, amount=None) -> dict:
        """An invoice for a subscription (for `invoice.paid` / `invoice.payment_failed`)."""
        with self._lock:
            subscription = self._render(self._subscription(subscription_id))
            total = sum(
                (item["price"]["unit_amount"] or 0) * item["quantity"] for item in subscription["items"]["data"]
            )
            total = total if amount is None else amount
            now = int(time.time())
            invoice = {
                "id": new_id("in_"),
                "object": "invoice",
                "amount_due": total,
                "amount_paid": total if paid else 0,
                "amount_remaining": 0 if paid else total,
                "attempt_count": 1,
                "attempted": True,
                "billing_reason": "subscription_cycle",
                "collection_method": "charge_automatically",
                "created": now,
                "currency": subscription["currency"],
                "customer": subscription["customer"],
                "livemode": False,
                "metadata": {},
                "parent": {
                    "type": "subscription_details",
                    "quote_details": None,
                    "subscription_details": {
                        "metadata": subscription["metadata"],
                        "subscription": subscription_id,
                    },
                },
                "period_start": subscription["current_period_start"],
                "period_end": subscription["current_period_end"],
                "status": "paid" if paid else "open",
                "subscription": subscription_id,  # older API versions; newer use `parent`
                "total": total,
            }
            self.invoices[invoice["id"]] = invoice
            return copy.deepcopy(invoice)

    # -- webhooks --

    def webhook(
        self,
        event_type,
        data_object,
        *,
        secret,
        created=None,
        event_id=None,
        timestamp=None,
        previous_attributes=None,
    ):
        """A Stripe event around `data_object`, as `(payload bytes, Stripe-Signature value)`.

        `created` is the event's time (default now); `timestamp` is the signing time in the
        header (default now), so an old `timestamp` makes a signature Stripe's SDK refuses.
        The event is kept and served at `GET /v1/events/{id}`.
        """
        if hasattr(data_object, "to_dict"):  # an SDK object
            data_object = data_object.to_dict()
        now = int(time.time())
        event = {
            "id": event_id or new_id("evt_"),
            "object": "event",
            "api_version": self.api_version,
            "created": int(created if created is not None else now),
            "data": {"object": copy.deepcopy(data_object)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        if previous_attributes is not None:
            event["data"]["previous_attributes"] = copy.deepcopy(previous_attributes)
        with self._lock:
            self.events[event["id"]] = event
        payload = json.dumps(event, indent=2)  # Stripe sends pretty-printed JSON
        return payload.encode(), sign_payload(payload, secret, timestamp=timestamp)

    # -- internals: objects --

    def _render(self, obj):
        obj = copy.deepcopy(obj)
        if obj.get("object") == "subscription":
            obj = self._render_subscription(obj)
        return obj

    def _render_subscription(self, subscription):
        items = [
            {
                "id": item["id"],
                "object": "subscription_item",
                "created": item["created"],
                "current_period_start": subscription["current_period_start"],
                "current_period_end": subscription["current_period_end"],
                "discounts": [],
                "metadata": item["metadata"],
                "price": copy.deepcopy(self.prices[item["price"]]),
                "quantity": item["quantity"],
                "subscription": subscription["id"],
                "tax_rates": [],
            }
            for item in subscription.pop("_items")
        ]
        ordered = {key: subscription[key] for key in ("id", "object")}
        first_price = items[0]["price"] if items else {}
        ordered.update(
            {
                "application": None,
                "automatic_tax": {"enabled": False, "liability": None},
                "billing_cycle_anchor": subscription["current_period_start"],
                "cancel_at": subscription["current_period_end"] if subscription["cancel_at_period_end"] else None,
                "cancel_at_period_end": subscription["cancel_at_period_end"],
                "canceled_at": subscription["canceled_at"],
                "cancellation_details": {"comment": None, "feedback": None, "reason": None},
                "collection_method": "charge_automatically",
                "created": subscription["created"],
                "currency": first_price.get("currency"),
                "current_period_start": subscription["current_period_start"],
                "current_period_end": subscription["current_period_end"],
                "customer": subscription["customer"],
                "default_payment_method": None,
                "description": None,
                "discounts": [],
                "ended_at": subscription["ended_at"],
                "items": {
                    "object": "list",
                    "data": items,
                    "has_more": False,
                    "total_count": len(items),
                    "url": f"/v1/subscription_items?subscription={subscription['id']}",
                },
                "latest_invoice": None,
                "livemode": False,
                "metadata": subscription["metadata"],
                "start_date": subscription["start_date"],
                "status": subscription["status"],
                "test_clock": None,
                "trial_end": None,
                "trial_start": None,
            }
        )
        return ordered

    def _lookup(self, object_id):
        for prefix, store in (
            ("cus_", self.customers),
            ("prod_", self.products),
            ("price_", self.prices),
            ("sub_", self.subscriptions),
            ("cs_", self.checkout_sessions),
            ("in_", self.invoices),
        ):
            if object_id.startswith(prefix) and object_id in store:
                return self._render(store[object_id])
        return None

    def _expand(self, obj, parts):
        if isinstance(obj, list):
            for element in obj:
                self._expand(element, parts)
            return
        if not isinstance(obj, dict) or not parts:
            return
        key, rest = parts[0], parts[1:]
        if key == "line_items" and obj.get("object") == "checkout.session":
            obj["line_items"] = self._line_items(obj["id"])
        elif key not in obj:
            raise StripeError(400, f"This property cannot be expanded ({key}).", param="expand")
        value = obj[key]
        if isinstance(value, str):
            found = self._lookup(value)
            if found is not None:
                obj[key] = value = found
        self._expand(value, rest)

    def _line_items(self, session_id):
        data = []
        for item in self._session_extras[session_id]["line_items"]:
            price = copy.deepcopy(self.prices[item["price"]])
            amount = (price["unit_amount"] or 0) * item["quantity"]
            data.append(
                {
                    "id": item["id"],
                    "object": "item",
                    "amount_discount": 0,
                    "amount_subtotal": amount,
                    "amount_tax": 0,
                    "amount_total": amount,
                    "currency": price["currency"],
                    "description": self.products[price["product"]]["name"],
                    "price": price,
                    "quantity": item["quantity"],
                }
            )
        return {
            "object": "list",
            "data": data,
            "has_more": False,
            "url": f"/v1/checkout/sessions/{session_id}/line_items",
        }

    def _subscription(self, subscription_id):
        if subscription_id not in self.subscriptions:
            raise KeyError(f"No such subscription: {subscription_id!r}")
        return self.subscriptions[subscription_id]

    def _cancel(self, subscription):
        now = int(time.time())
        subscription["status"] = "canceled"
        subscription["canceled_at"] = subscription["canceled_at"] or now
        subscription["ended_at"] = now
        subscription["cancel_at_period_end"] = False

    def _resolve_price(self, price):
        if price in self.prices:
            return price
        for candidate in self.prices.values():
            if candidate["lookup_key"] == price:
                return candidate["id"]
        raise ValueError(f"No such price: {price!r}")

    def _items_arg(self, items):
        result = []
        for item in items:
            if isinstance(item, str):
                price, quantity = item, 1
            elif isinstance(item, dict):
                price, quantity = item["price"], item.get("quantity", 1)
            else:
                price, quantity = item
            result.append((self._resolve_price(price), int(quantity)))
        return result

    def _new_item(self, subscription_id, price, quantity, created):
        return {
            "id": new_id("si_", 14),
            "price": price,
            "quantity": quantity,
            "created": created,
            "metadata": {},
            "subscription": subscription_id,
        }

    def _create_customer(self, params):
        now = int(time.time())
        customer_id = params.get("id") or new_id("cus_", 14)
        customer = {
            "id": customer_id,
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": now,
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": params.get("description"),
            "discount": None,
            "email": params.get("email"),
            "invoice_prefix": secrets.token_hex(4).upper(),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": _metadata(params.get("metadata")),
            "name": params.get("name"),
            "next_invoice_sequence": 1,
            "phone": params.get("phone"),
            "preferred_locales": _as_list(params.get("preferred_locales")),
            "shipping": None,
            "tax_exempt": params.get("tax_exempt") or "none",
            "test_clock": None,
        }
        self.customers[customer_id] = customer
        return customer

    def _create_product(self, params):
        if not params.get("name"):
            raise StripeError(400, "Missing required param: name.", param="name")
        product_id = params.get("id") or new_id("prod_", 14)
        if product_id in self.products:
            raise StripeError(400, f"Product already exists: {product_id}", code="resource_already_exists", param="id")
        now = int(time.time())
        product = {
            "id": product_id,
            "object": "product",
            "active": _bool(params, "active", default=True),
            "created": now,
            "default_price": None,
            "description": params.get("description"),
            "images": _as_list(params.get("images")),
            "livemode": False,
            "marketing_features": [],
            "metadata": _metadata(params.get("metadata")),
            "name": params["name"],
            "package_dimensions": None,
            "shippable": None,
            "statement_descriptor": params.get("statement_descriptor"),
            "tax_code": params.get("tax_code"),
            "type": "service",
            "unit_label": params.get("unit_label"),
            "updated": now,
            "url": params.get("url"),
        }
        self.products[product_id] = product
        return product

    def _create_price(self, params):
        if not params.get("currency"):
            raise StripeError(400, "Missing required param: currency.", param="currency")
        product_id = params.get("product")
        if params.get("product_data"):
            if product_id:
                raise StripeError(
                    400, "You may only specify one of these parameters: product, product_data.", param="product"
                )
            product_id = self._create_product(params["product_data"])["id"]
        if not product_id:
            raise StripeError(400, "Missing required param: product.", param="product")
        if product_id not in self.products:
            raise _missing("product", product_id, param="product", status=400)
        unit_amount = _int(params, "unit_amount")
        if unit_amount is None and params.get("unit_amount_decimal") is None:
            raise StripeError(400, "Missing required param: unit_amount.", param="unit_amount")
        recurring = params.get("recurring")
        if recurring:
            if recurring.get("interval") not in ("day", "week", "month", "year"):
                raise StripeError(400, "Invalid recurring[interval]", param="recurring[interval]")
            recurring = {
                "interval": recurring["interval"],
                "interval_count": _int(recurring, "interval_count", default=1, param="recurring[interval_count]"),
                "meter": None,
                "trial_period_days": _int(recurring, "trial_period_days", param="recurring[trial_period_days]"),
                "usage_type": recurring.get("usage_type") or "licensed",
            }
        lookup_key = params.get("lookup_key") or None
        if lookup_key:
            holder = next((p for p in self.prices.values() if p["lookup_key"] == lookup_key), None)
            if holder and _bool(params, "transfer_lookup_key", default=False):
                holder["lookup_key"] = None
            elif holder:
                raise StripeError(
                    400,
                    f"A price (`{holder['id']}`) already uses that lookup key.",
                    param="lookup_key",
                )
        if unit_amount is None:
            unit_amount_decimal = str(params["unit_amount_decimal"])
        else:
            unit_amount_decimal = str(unit_amount)
        price = {
            "id": new_id("price_"),
            "object": "price",
            "active": _bool(params, "active", default=True),
            "billing_scheme": "per_unit",
            "created": int(time.time()),
            "currency": params["currency"].lower(),
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": lookup_key,
            "metadata": _metadata(params.get("metadata")),
            "nickname": params.get("nickname") or None,
            "product": product_id,
            "recurring": recurring or None,
            "tax_behavior": params.get("tax_behavior") or "unspecified",
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "recurring" if recurring else "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": unit_amount_decimal,
        }
        self.prices[price["id"]] = price
        return price

    # -- internals: HTTP routes --

    def _check_params(self, operation, params):
        if not self.strict_params:
            return
        allowed = _allowed(operation)
        if allowed is None:
            return
        for name in params:
            if name not in allowed:
                raise StripeError(400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name)

    def _list(self, objects, params, url):
        limit = _int(params, "limit", default=10)
        if not 1 <= limit <= 100:
            raise StripeError(400, "Invalid integer: limit must be between 1 and 100.", param="limit")
        objects = list(reversed(objects))  # newest first
        ids = [obj["id"] for obj in objects]
        if params.get("starting_after"):
            cursor = params["starting_after"]
            if cursor not in ids:
                raise _missing("object", cursor, param="starting_after", status=400)
            objects = objects[ids.index(cursor) + 1 :]
            page = objects[:limit]
        elif params.get("ending_before"):
            cursor = params["ending_before"]
            if cursor not in ids:
                raise _missing("object", cursor, param="ending_before", status=400)
            objects = objects[: ids.index(cursor)]
            page = objects[-limit:]
        else:
            page = objects[:limit]
        data = [self._render(obj) for obj in page]
        return {"object": "list", "data": data, "has_more": len(objects) > len(page), "url": url}

    def route(self, method, path, params):
        """(status, body) for one API call. Raises StripeError for error answers."""
        for route_method, pattern, name in _ROUTES:
            if route_method != method:
                continue
            match = re.fullmatch(pattern, path)
            if match:
                with self._lock:
                    expand = [str(entry) for entry in _as_list(params.pop("expand", None))]
                    result = getattr(self, name)(params, *match.groups())
                    for entry in expand:  # on a list, paths start with "data."
                        self._expand(result, entry.split("."))
                    return 200, result
        raise StripeError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/. (This fake Stripe server does not "
            "answer it.)",
        )

    def _post_customers(self, params):
        self._check_params("customer.create", params)
        return self._render(self._create_customer(params))

    def _get_customer(self, params, customer_id):
        if customer_id not in self.customers:
            raise _missing("customer", customer_id)
        return self._render(self.customers[customer_id])

    def _post_customer(self, params, customer_id):
        self._check_params("customer.update", params)
        if customer_id not in self.customers:
            raise _missing("customer", customer_id)
        customer = self.customers[customer_id]
        for field in ("email", "name", "description", "phone"):
            if field in params:
                customer[field] = params[field] or None
        if "metadata" in params:
            customer["metadata"] = _metadata(params["metadata"], customer["metadata"])
        return self._render(customer)

    def _list_customers(self, params):
        self._check_params("customer.list", params)
        customers = [c for c in self.customers.values() if "email" not in params or c["email"] == params["email"]]
        return self._list(customers, params, "/v1/customers")

    def _post_products(self, params):
        self._check_params("product.create", params)
        return self._render(self._create_product(params))

    def _get_product(self, params, product_id):
        if product_id not in self.products:
            raise _missing("product", product_id)
        return self._render(self.products[product_id])

    def _list_products(self, params):
        self._check_params("product.list", params)
        active = _bool(params, "active")
        ids = set(_as_list(params.get("ids"))) or None
        products = [
            p
            for p in self.products.values()
            if (active is None or p["active"] == active) and (ids is None or p["id"] in ids)
        ]
        return self._list(products, params, "/v1/products")

    def _post_prices(self, params):
        self._check_params("price.create", params)
        return self._render(self._create_price(params))

    def _get_price(self, params, price_id):
        if price_id not in self.prices:
            raise _missing("price", price_id)
        return self._render(self.prices[price_id])

    def _list_prices(self, params):
        self._check_params("price.list", params)
        active = _bool(params, "active")
        lookup_keys = _as_list(params.get("lookup_keys")) or None
        interval = (params.get("recurring") or {}).get("interval")
        prices = [
            p
            for p in self.prices.values()
            if p["id"] not in self._inline_prices
            and (active is None or p["active"] == active)
            and (lookup_keys is None or p["lookup_key"] in lookup_keys)
            and ("product" not in params or p["product"] == params["product"])
            and ("currency" not in params or p["currency"] == params["currency"].lower())
            and ("type" not in params or p["type"] == params["type"])
            and (interval is None or (p["recurring"] or {}).get("interval") == interval)
        ]
        return self._list(prices, params, "/v1/prices")

    def _post_checkout_sessions(self, params):
        self._check_params("checkout.session.create", params)
        mode = params.get("mode")
        if mode not in ("payment", "setup", "subscription"):
            if mode is None:
                raise StripeError(400, "Missing required param: mode.", param="mode")
            raise StripeError(400, "Invalid mode: must be one of payment, setup, or subscription", param="mode")
        customer = params.get("customer") or None
        if customer and params.get("customer_email"):
            raise StripeError(
                400, "You may only specify one of these parameters: customer, customer_email.", param="customer"
            )
        if customer and customer not in self.customers:
            raise _missing("customer", customer, param="customer", status=400)
        line_items = []
        for index, entry in enumerate(_as_list(params.get("line_items"))):
            param = f"line_items[{index}]"
            if not isinstance(entry, dict):
                raise StripeError(400, "Invalid array", param="line_items")
            if entry.get("price_data"):
                data = dict(entry["price_data"])
                price_id = self._create_price(data)["id"]
                self._inline_prices.add(price_id)
            else:
                price_id = entry.get("price")
                if not price_id:
                    raise StripeError(400, f"Missing required param: {param}[price].", param=f"{param}[price]")
                if price_id not in self.prices:
                    raise _missing("price", price_id, param=f"{param}[price]", status=400)
            price = self.prices[price_id]
            if not price["active"]:
                raise StripeError(
                    400,
                    "The price specified is inactive. This field only accepts active prices.",
                    param=f"{param}[price]",
                )
            if "quantity" not in entry:
                raise StripeError(400, f"Quantity is required. Add `quantity` to `{param}`", param=f"{param}[quantity]")
            quantity = _int(entry, "quantity", param=f"{param}[quantity]")
            if quantity < 1:
                raise StripeError(400, "Quantity must be at least 1.", param=f"{param}[quantity]")
            line_items.append({"id": new_id("li_"), "price": price_id, "quantity": quantity})
        prices = [self.prices[item["price"]] for item in line_items]
        if mode in ("payment", "subscription") and not line_items:
            raise StripeError(400, f"`line_items` is required in `{mode}` mode.", param="line_items")
        if mode == "subscription" and not any(p["type"] == "recurring" for p in prices):
            raise StripeError(
                400,
                "You must provide at least one recurring price in `subscription` mode when using prices.",
                param="line_items",
            )
        if mode == "payment" and any(p["type"] == "recurring" for p in prices):
            raise StripeError(
                400,
                "You specified `payment` mode but passed a recurring price. Either switch to "
                "`subscription` mode or use only one-time prices.",
                param="line_items",
            )
        ui_mode = params.get("ui_mode") or "hosted"
        now = int(time.time())
        session_id = new_id("cs_test_", 58)
        total = sum((p["unit_amount"] or 0) * item["quantity"] for p, item in zip(prices, line_items, strict=True))
        session = {
            "id": session_id,
            "object": "checkout.session",
            "after_expiration": None,
            "allow_promotion_codes": _bool(params, "allow_promotion_codes"),
            "amount_subtotal": total,
            "amount_total": total,
            "automatic_tax": {"enabled": False, "liability": None, "status": None},
            "billing_address_collection": params.get("billing_address_collection"),
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "client_secret": None,
            "created": now,
            "currency": prices[0]["currency"] if prices else None,
            "customer": customer,
            "customer_creation": None if customer else ("always" if mode == "subscription" else "if_required"),
            "customer_details": None,
            "customer_email": params.get("customer_email"),
            "expires_at": _int(params, "expires_at", default=now + DAY),
            "invoice": None,
            "livemode": False,
            "locale": params.get("locale"),
            "metadata": _metadata(params.get("metadata")),
            "mode": mode,
            "payment_intent": None,
            "payment_method_types": ["card"],
            "payment_status": "no_payment_required" if mode == "setup" else "unpaid",
            "return_url": params.get("return_url"),
            "setup_intent": None,
            "status": "open",
            "submit_type": params.get("submit_type"),
            "subscription": None,
            "success_url": params.get("success_url"),
            "ui_mode": ui_mode,
            "url": f"https://checkout.stripe.test/c/pay/{session_id}"
            if ui_mode == "hosted" and not self.sessions_without_url
            else None,
        }
        subscription_data = params.get("subscription_data") or {}
        self._session_extras[session_id] = {
            "line_items": line_items,
            "subscription_metadata": _metadata(subscription_data.get("metadata")),
        }
        self.checkout_sessions[session_id] = session
        return self._render(session)

    def _get_checkout_session(self, params, session_id):
        if session_id not in self.checkout_sessions:
            raise _missing("checkout.session", session_id)
        return self._render(self.checkout_sessions[session_id])

    def _post_portal_sessions(self, params):
        self._check_params("portal.session.create", params)
        customer = params.get("customer")
        if not customer:
            raise StripeError(400, "Missing required param: customer.", param="customer")
        if customer not in self.customers:
            raise _missing("customer", customer, param="customer", status=400)
        session_id = new_id("bps_")
        session = {
            "id": session_id,
            "object": "billing_portal.session",
            "configuration": params.get("configuration") or "bpc_fakedefaultconfiguration",
            "created": int(time.time()),
            "customer": customer,
            "flow": None,
            "livemode": False,
            "locale": params.get("locale"),
            "on_behalf_of": None,
            "return_url": params.get("return_url"),
            "url": f"https://billing.stripe.test/p/session/test_{session_id[4:]}",
        }
        self.portal_sessions[session_id] = session
        return self._render(session)

    def _get_subscription(self, params, subscription_id):
        if subscription_id not in self.subscriptions:
            raise _missing("subscription", subscription_id)
        return self._render(self.subscriptions[subscription_id])

    def _list_subscriptions(self, params):
        self._check_params("subscription.list", params)
        status = params.get("status")
        if status is not None and status not in SUBSCRIPTION_STATUSES | {"all", "ended"}:
            raise StripeError(400, f"Invalid status: {status}", param="status")
        customer = params.get("customer")
        price = params.get("price")

        def wanted(sub):
            if customer and sub["customer"] != customer:
                return False
            if price and all(item["price"] != price for item in sub["_items"]):
                return False
            if status is None:
                return sub["status"] not in ("canceled", "incomplete_expired")
            if status == "all":
                return True
            if status == "ended":
                return sub["status"] in ("canceled", "incomplete_expired")
            return sub["status"] == status

        return self._list([s for s in self.subscriptions.values() if wanted(s)], params, "/v1/subscriptions")

    def _post_subscription(self, params, subscription_id):
        self._check_params("subscription.update", params)
        if subscription_id not in self.subscriptions:
            raise _missing("subscription", subscription_id)
        subscription = self.subscriptions[subscription_id]
        if subscription["status"] == "canceled":
            raise StripeError(
                400,
                "A canceled subscription can only update its cancellation_details and metadata.",
            )
        if "cancel_at_period_end" in params:
            at_end = _bool(params, "cancel_at_period_end")
            subscription["cancel_at_period_end"] = at_end
            subscription["canceled_at"] = int(time.time()) if at_end else None
        if "metadata" in params:
            subscription["metadata"] = _metadata(params["metadata"], subscription["metadata"])
        for index, entry in enumerate(_as_list(params.get("items"))):
            param = f"items[{index}]"
            if entry.get("price") and entry["price"] not in self.prices:
                raise _missing("price", entry["price"], param=f"{param}[price]", status=400)
            if entry.get("id"):
                item = next((i for i in subscription["_items"] if i["id"] == entry["id"]), None)
                if item is None:
                    raise _missing("subscription_item", entry["id"], param=f"{param}[id]", status=400)
                if _bool(entry, "deleted", default=False, param=f"{param}[deleted]"):
                    subscription["_items"].remove(item)
                    continue
                if entry.get("price"):
                    item["price"] = entry["price"]
                if "quantity" in entry:
                    item["quantity"] = _int(entry, "quantity", param=f"{param}[quantity]")
            else:
                if not entry.get("price"):
                    raise StripeError(400, f"Missing required param: {param}[price].", param=f"{param}[price]")
                quantity = _int(entry, "quantity", default=1, param=f"{param}[quantity]")
                subscription["_items"].append(
                    self._new_item(subscription_id, entry["price"], quantity, int(time.time()))
                )
        return self._render(subscription)

    def _delete_subscription(self, params, subscription_id):
        self._check_params("subscription.cancel", params)
        if subscription_id not in self.subscriptions:
            raise _missing("subscription", subscription_id)
        subscription = self.subscriptions[subscription_id]
        if subscription["status"] == "canceled":
            raise StripeError(400, f"This subscription is already canceled: {subscription_id}", code="resource_missing")
        self._cancel(subscription)
        return self._render(subscription)

    def _get_event(self, params, event_id):
        if event_id not in self.events:
            raise _missing("event", event_id)
        return copy.deepcopy(self.events[event_id])

    def _get_invoice(self, params, invoice_id):
        if invoice_id not in self.invoices:
            raise _missing("invoice", invoice_id)
        return copy.deepcopy(self.invoices[invoice_id])


_ID = r"/([A-Za-z0-9_]+)"
_ROUTES = [
    ("POST", r"/v1/customers", "_post_customers"),
    ("GET", r"/v1/customers", "_list_customers"),
    ("GET", r"/v1/customers" + _ID, "_get_customer"),
    ("POST", r"/v1/customers" + _ID, "_post_customer"),
    ("POST", r"/v1/products", "_post_products"),
    ("GET", r"/v1/products", "_list_products"),
    ("GET", r"/v1/products" + _ID, "_get_product"),
    ("POST", r"/v1/prices", "_post_prices"),
    ("GET", r"/v1/prices", "_list_prices"),
    ("GET", r"/v1/prices" + _ID, "_get_price"),
    ("POST", r"/v1/checkout/sessions", "_post_checkout_sessions"),
    ("GET", r"/v1/checkout/sessions" + _ID, "_get_checkout_session"),
    ("POST", r"/v1/billing_portal/sessions", "_post_portal_sessions"),
    ("GET", r"/v1/subscriptions", "_list_subscriptions"),
    ("GET", r"/v1/subscriptions" + _ID, "_get_subscription"),
    ("POST", r"/v1/subscriptions" + _ID, "_post_subscription"),
    ("DELETE", r"/v1/subscriptions" + _ID, "_delete_subscription"),
    ("GET", r"/v1/events" + _ID, "_get_event"),
    ("GET", r"/v1/invoices" + _ID, "_get_invoice"),
]

_FAILURE_MESSAGES = {
    400: "Invalid request.",
    402: "Your card was declined.",
    409: "This object cannot be accessed right now because another API request or Stripe process is currently accessing it.",
    429: "Request rate limit exceeded.",
    500: "An unknown error occurred",
    503: "The service is temporarily unavailable.",
}


def sign_payload(payload, secret, *, timestamp=None):
    """A `Stripe-Signature` value: `t=<ts>,v1=<HMAC-SHA256 of "<ts>.<payload>">`."""
    if isinstance(payload, (bytes, bytearray)):
        payload = payload.decode()
    timestamp = int(time.time() if timestamp is None else timestamp)
    signature = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


def _check_status(status):
    if status not in SUBSCRIPTION_STATUSES:
        raise ValueError(f"unknown subscription status {status!r}")


def _stringify(params):
    """Python values as they arrive over the wire (so helpers and HTTP share one path)."""
    if isinstance(params, dict):
        return {key: _stringify(value) for key, value in params.items() if value is not None}
    if isinstance(params, (list, tuple)):
        return [_stringify(value) for value in params]
    if isinstance(params, bool):
        return "true" if params else "false"
    return str(params)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def do_DELETE(self):
        self._handle()

    def _handle(self):
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        split = urlsplit(self.path)
        record = {
            "method": self.command,
            "path": split.path,
            "query": parse_form(split.query),
            "form": parse_form(body) if self.command == "POST" else {},
            "body": body,
            "headers": {name.lower(): value for name, value in self.headers.items()},
            "status": None,
        }
        fake.requests.append(record)
        if fake.latency:
            time.sleep(fake.latency)
        status, payload, headers = self._answer(fake, record)
        record["status"] = status
        self._send_json(status, payload, headers)

    def _answer(self, fake, record):
        headers = {}
        key = _api_key(record["headers"].get("authorization", ""))
        try:
            if not key:
                raise StripeError(
                    401,
                    "You did not provide an API key. You need to provide your API key in the "
                    "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                    "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for "
                    "details, or we can help at https://support.stripe.com/.",
                )
            if fake.api_key is not None and key != fake.api_key:
                raise StripeError(
                    401,
                    f"Invalid API Key provided: {_redact(key)}",
                    code="api_key_invalid" if key.startswith("sk_") else None,
                )
            self._injected_failure(fake, record)
            idempotency_key = record["headers"].get("idempotency-key")
            signature = (record["method"], record["path"], record["body"])
            cached_key = (key, idempotency_key)
            if record["method"] == "POST" and idempotency_key:
                with fake._lock:
                    cached = fake._idempotent.get(cached_key)
                if cached is not None:
                    if cached[0] != signature:
                        raise StripeError(
                            400,
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other than "
                            f"'{idempotency_key}' if you meant to execute a different request.",
                            type="idempotency_error",
                        )
                    return cached[1], copy.deepcopy(cached[2]), {"Idempotent-Replayed": "true"}
            params = copy.deepcopy(record["form"] if record["method"] == "POST" else record["query"])
            status, payload = fake.route(record["method"], record["path"], params)
            if record["method"] == "POST" and idempotency_key:
                with fake._lock:
                    fake._idempotent[cached_key] = (signature, status, copy.deepcopy(payload))
            return status, payload, headers
        except StripeError as error:
            return error.status, error.body(), error.headers

    def _injected_failure(self, fake, record):
        with fake._lock:
            for rule in list(fake.failures):
                if rule["method"] and rule["method"] != record["method"]:
                    continue
                if rule["path"] and not re.search(rule["path"], record["path"]):
                    continue
                if rule["times"] is not None:
                    rule["times"] -= 1
                    if rule["times"] <= 0:
                        fake.failures.remove(rule)
                headers = {}
                if rule["should_retry"] is not None:
                    headers["Stripe-Should-Retry"] = "true" if rule["should_retry"] else "false"
                raise StripeError(
                    rule["status"],
                    rule["message"],
                    type=rule["type"],
                    code=rule["code"],
                    headers=headers,
                )

    def _send_json(self, status, data, headers):
        payload = json.dumps(data, indent=2).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", new_id("req_", 14))
            self.send_header("Stripe-Version", self.headers.get("Stripe-Version") or self.server.fake.api_version)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True


def _api_key(authorization):
    if authorization.startswith("Bearer "):
        return authorization[len("Bearer ") :].strip()
    if authorization.startswith("Basic "):  # curl -u sk_test_...: (key as the user name)
        import base64

        try:
            return base64.b64decode(authorization[6:]).decode().split(":", 1)[0]
        except Exception:
            return ""
    return ""


def _redact(key):
    return key[:8] + "*" * max(len(key) - 12, 4) + key[-4:] if len(key) > 12 else "*" * len(key)
