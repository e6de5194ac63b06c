from django.apps import AppConfig


class RpsSiteConfig(AppConfig):
    name = "rps_site"
    verbose_name = "RPS site"

    def ready(self) -> None:
        # Imported for what they register: the bearer token's OpenAPI scheme, the Vault deploy check.
        from rps_site import api_schema, checks  # noqa: F401
