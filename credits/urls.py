from django.urls import path

from credits import views

urlpatterns = [
    path("alerts/", views.low_balance_alert, name="low_balance_alert"),
    path("alerts/<int:alert_id>/dismiss/", views.dismiss_low_balance_alert, name="low_balance_alert_dismiss"),
]
