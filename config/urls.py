from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

from config import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("credits.urls")),
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
]
