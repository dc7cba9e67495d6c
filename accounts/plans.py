"""The plan catalogue: each plan and pack, what it is called and what it allows.

Defined once, in the lowest app, so that billing (what is sold and held), credits (a new
account's Free allowance), the pages, the admin, the commands and the tests read the same
figures. Stripe price ids are settings, since they differ per Stripe account; the list
prices here are what `stripe_setup` creates and what the plans page shows.
"""

from dataclasses import dataclass

CURRENCY = "eur"


@dataclass(frozen=True)
class Product:
    code: str  # in forms, Checkout metadata and Stripe lookup keys
    name: str
    # The credits the plan gives (for a pack: adds, per pack held); each one used comes
    # back CREDIT_REPLENISH_DAYS later, so this is also the most that can be out at once.
    allowance: int
    monthly_price_cents: int
    own_key: bool = False  # may run on the user's own OpenAI key
    quantity_allowed: bool = False  # a pack may be held several times
    price_setting: str = ""  # the setting that holds the Stripe price id ("" for Free)

    @property
    def lookup_key(self):
        """How `stripe_setup` finds this product's price in a Stripe account again."""
        return f"pickaxe_{self.code}_monthly"

    @property
    def price_text(self):
        if not self.monthly_price_cents:
            return "free"
        euros, cents = divmod(self.monthly_price_cents, 100)
        return f"€{euros}{f'.{cents:02d}' if cents else ''} a month"


FREE = Product("free", "Free", allowance=25, monthly_price_cents=0)
# Gold replaces Free's allowance rather than adding to it.
GOLD = Product(
    "gold", "Gold", allowance=1000, monthly_price_cents=1900, own_key=True, price_setting="STRIPE_PRICE_GOLD"
)
PACK_100 = Product(
    "pack_100",
    "Extra 100",
    allowance=100,
    monthly_price_cents=500,
    quantity_allowed=True,
    price_setting="STRIPE_PRICE_PACK_100",
)
PACK_250 = Product(
    "pack_250",
    "Extra 250",
    allowance=250,
    monthly_price_cents=1000,
    quantity_allowed=True,
    price_setting="STRIPE_PRICE_PACK_250",
)

PRODUCTS = (FREE, GOLD, PACK_100, PACK_250)
FOR_SALE = (GOLD, PACK_100, PACK_250)


def allowance(*, gold, packs_100, packs_250):
    """The credits a plan and its packs give together (each one used comes back later)."""
    base = GOLD if gold else FREE
    return base.allowance + PACK_100.allowance * packs_100 + PACK_250.allowance * packs_250


def describe(*, gold, packs_100, packs_250):
    """ "Gold + 2 × Extra 100": what a user holds, in the catalogue's names."""
    parts = [GOLD.name if gold else FREE.name]
    for count, pack in ((packs_100, PACK_100), (packs_250, PACK_250)):
        if count:
            parts.append(f"{count} × {pack.name}")
    return " + ".join(parts)
