from django.apps import AppConfig


class EmbedsConfig(AppConfig):
    name = "embeds"
    verbose_name = "Embeds"

    def ready(self):
        from embeds import receivers
        from pickaxes.signals import usage_page

        usage_page.connect(receivers.usage_insight, dispatch_uid="embeds.usage_insight")
