from django import forms

from accounts import plans
from billing.models import Entitlement

PRODUCT_CHOICES = [(product.code, product.name) for product in plans.FOR_SALE]


class CheckoutForm(forms.Form):
    product = forms.ChoiceField(choices=PRODUCT_CHOICES)
    quantity = forms.IntegerField(min_value=1, max_value=20, initial=1, required=False)

    def clean_quantity(self):
        return self.cleaned_data.get("quantity") or 1


# The most packs of one kind staff may set by hand: far above any real holding, and low
# enough that the allowance it makes stays well inside the ledger's integer column.
MOST_PACKS = 1000


class EntitlementForm(forms.ModelForm):
    """What staff may set on an entitlement in the admin, with every count bounded."""

    packs_100 = forms.IntegerField(min_value=0, max_value=MOST_PACKS, initial=0)
    packs_250 = forms.IntegerField(min_value=0, max_value=MOST_PACKS, initial=0)

    class Meta:
        model = Entitlement
        fields = ["user", "gold", "packs_100", "packs_250"]
