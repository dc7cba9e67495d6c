from django import forms

PRODUCT_CHOICES = [("gold", "Gold"), ("pack_100", "Extra 100"), ("pack_250", "Extra 250")]


class CheckoutForm(forms.Form):
    product = forms.ChoiceField(choices=PRODUCT_CHOICES)
    quantity = forms.IntegerField(min_value=1, max_value=20, initial=1, required=False)

    def clean_quantity(self):
        return self.cleaned_data.get("quantity") or 1
