from django.apps import AppConfig


class RpsSiteConfig(AppConfig):
    name = "rps_site"
    verbose_name = "RPS site"
