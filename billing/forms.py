from django import forms

from accounts import plans

PRODUCT_CHOICES = [(product.code, product.name) for product in plans.FOR_SALE]


class CheckoutForm(forms.Form):
    product = forms.ChoiceField(choices=PRODUCT_CHOICES)
    quantity = forms.IntegerField(min_value=1, max_value=20, initial=1, required=False)

    def clean_quantity(self):
        return self.cleaned_data.get("quantity") or 1
