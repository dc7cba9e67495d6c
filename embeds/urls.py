from django.urls import path

from embeds import api, views

urlpatterns = [
    path("api/v1/docs/", views.api_docs, name="api_docs"),
    path("api/v1/", api.urls()),
    path("account/api-keys/", views.api_keys, name="api_keys"),
    path("account/api-keys/<int:key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("e/<str:token>/", views.embed, name="embed"),
    path("e/<str:token>/run/", views.embed_run, name="embed_run"),
    path("e/<str:token>/csp-report/", views.embed_report, name="embed_report"),
    path("studio/<slug:slug>/embed/", views.settings_page, name="embed_settings"),
    path("studio/<slug:slug>/embed/rotate/", views.rotate, name="embed_rotate"),
    path("studio/<slug:slug>/embed/allow/", views.allow_host, name="embed_allow_host"),
    path("studio/<slug:slug>/usage/", views.studio_usage, name="studio_usage"),
    path("studio/<slug:slug>/usage.csv", views.studio_usage_csv, name="studio_usage_csv"),
]
