from django.contrib import admin
from django.urls import include, path

from config import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("account/", include("accounts.urls")),
    path("account/", include("credits.urls")),
    path("billing/", include("billing.urls")),
    path("", include("embeds.urls")),
    path("", include("pickaxes.urls")),
]
