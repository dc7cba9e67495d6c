from django.urls import path

from accounts import views

urlpatterns = [
    path("own-key/", views.save_own_key, name="own_key_save"),
    path("own-key/delete/", views.delete_own_key, name="own_key_delete"),
]
