from django.urls import path

from credits import views

urlpatterns = [
    path("account/", views.account, name="account"),
]
