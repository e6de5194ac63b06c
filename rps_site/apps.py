from django.apps import AppConfig


class RpsSiteConfig(AppConfig):
    name = "rps_site"
    verbose_name = "RPS site"

    def ready(self) -> None:
        from rps_site import api_schema  # noqa: F401 - registers the bearer token's OpenAPI scheme
