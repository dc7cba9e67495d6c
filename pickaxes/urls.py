from django.urls import path

from pickaxes import views

urlpatterns = [
    path("", views.browse, name="home"),
    path("account/", views.account, name="account"),
    path("account/runs/", views.run_history, name="run_history"),
    path("account/runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("p/<slug:slug>/", views.pickaxe_page, name="pickaxe"),
    path("p/<slug:slug>/run/", views.run, name="pickaxe_run"),
    path("studio/", views.studio, name="studio"),
    path("studio/new/", views.studio_new, name="studio_new"),
    path("studio/<slug:slug>/", views.studio_edit, name="studio_edit"),
    path("studio/<slug:slug>/publish/", views.studio_publish, name="studio_publish"),
]
