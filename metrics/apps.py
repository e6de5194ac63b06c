from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Metrics"

    def ready(self) -> None:
        from activation import session_events
        from metrics import sessions

        session_events.subscribe(sessions.SessionMetrics().observe)
