"""Create the Gold and Extra pack products and monthly prices in a Stripe account that
lacks them (found again by lookup key, so running it twice creates nothing new), then
print the settings lines to paste."""

from django.core.management.base import BaseCommand, CommandError

from accounts import plans
from billing import services


class Command(BaseCommand):
    help = "Create the products and prices in Stripe (idempotent) and print the STRIPE_PRICE_* settings."

    def add_arguments(self, parser):
        parser.add_argument("--currency", default=plans.CURRENCY)
        for product in plans.FOR_SALE:  # --gold-cents, --pack-100-cents, --pack-250-cents
            parser.add_argument(
                f"--{product.code.replace('_', '-')}-cents",
                type=int,
                default=product.monthly_price_cents,
                dest=f"{product.code}_cents",
            )

    def handle(self, *args, **options):
        try:
            client = services.stripe_client()
        except services.PaymentsNotConfigured as error:
            raise CommandError(f"{error} Set STRIPE_SECRET_KEY first.") from error
        lines = []
        for on_sale in plans.FOR_SALE:
            setting, lookup_key, name = on_sale.price_setting, on_sale.lookup_key, f"Pickaxe {on_sale.name}"
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
                        "unit_amount": options[f"{on_sale.code}_cents"],
                        "recurring": {"interval": "month"},
                        "lookup_key": lookup_key,
                        "nickname": f"{name} monthly",
                    }
                )
                self.stdout.write(self.style.SUCCESS(f"{name}: created product {product.id} and price {price.id}"))
            lines.append(f"{setting}={price.id}")
        self.stdout.write("\nPaste into your environment or .env:\n" + "\n".join(lines))
