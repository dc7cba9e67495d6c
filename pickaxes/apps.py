from django.apps import AppConfig


class PickaxesConfig(AppConfig):
    name = "pickaxes"
    verbose_name = "Pickaxes"
