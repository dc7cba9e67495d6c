from django.urls import path

from embeds import views

urlpatterns = [
    path("e/<str:token>/", views.embed, name="embed"),
    path("e/<str:token>/run/", views.embed_run, name="embed_run"),
    path("studio/<slug:slug>/embed/", views.settings_page, name="embed_settings"),
    path("studio/<slug:slug>/embed/rotate/", views.rotate, name="embed_rotate"),
]
