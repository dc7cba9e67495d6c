"""Create the Gold and Extra pack products and monthly prices in a Stripe account that
lacks them (found again by lookup key, so running it twice creates nothing new), then
print the settings lines to paste."""

from django.core.management.base import BaseCommand, CommandError

from billing import services

CATALOGUE = [
    ("STRIPE_PRICE_GOLD", "pickaxe_gold_monthly", "Pickaxe Gold", "gold_cents"),
    ("STRIPE_PRICE_PACK_100", "pickaxe_pack_100_monthly", "Pickaxe Extra 100", "pack_100_cents"),
    ("STRIPE_PRICE_PACK_250", "pickaxe_pack_250_monthly", "Pickaxe Extra 250", "pack_250_cents"),
]


class Command(BaseCommand):
    help = "Create the products and prices in Stripe (idempotent) and print the STRIPE_PRICE_* settings."

    def add_arguments(self, parser):
        parser.add_argument("--currency", default="eur")
        parser.add_argument("--gold-cents", type=int, default=1900, dest="gold_cents")
        parser.add_argument("--pack-100-cents", type=int, default=500, dest="pack_100_cents")
        parser.add_argument("--pack-250-cents", type=int, default=1000, dest="pack_250_cents")

    def handle(self, *args, **options):
        try:
            client = services.stripe_client()
        except services.PaymentsNotConfigured as error:
            raise CommandError(f"{error} Set STRIPE_SECRET_KEY first.") from error
        lines = []
        for setting, lookup_key, name, amount_option in CATALOGUE:
            found = client.v1.prices.list({"lookup_keys": [lookup_key], "active": True, "limit": 1})
            if found.data:
                price = found.data[0]
                self.stdout.write(f"{name}: found price {price.id} ({lookup_key})")
            else:
                product = client.v1.products.create({"name": name, "metadata": {"lookup_key": lookup_key}})
                price = client.v1.prices.create(
                    {
                        "product": product.id,
                        "currency": options["currency"],
                        "unit_amount": options[amount_option],
                        "recurring": {"interval": "month"},
                        "lookup_key": lookup_key,
                        "nickname": f"{name} monthly",
                    }
                )
                self.stdout.write(self.style.SUCCESS(f"{name}: created product {product.id} and price {price.id}"))
            lines.append(f"{setting}={price.id}")
        self.stdout.write("\nPaste into your environment or .env:\n" + "\n".join(lines))
