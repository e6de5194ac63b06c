from django.apps import AppConfig


class ActivationConfig(AppConfig):
    name = "activation"
    verbose_name = "Device activation"

    def ready(self) -> None:
        from activation import session_events

        session_events.subscribe(session_events.log_session)
