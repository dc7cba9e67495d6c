from django.urls import path

from billing import views

urlpatterns = [
    path("", views.plans, name="billing"),
    path("checkout/", views.checkout, name="billing_checkout"),
    path("return/", views.checkout_return, name="billing_return"),
    path("portal/", views.portal, name="billing_portal"),
    path("webhook/", views.webhook, name="billing_webhook"),
]
