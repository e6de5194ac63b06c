from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "MQTT events"

    def ready(self) -> None:
        from django.conf import settings

        if settings.MQTT is None:
            return
        from activation import session_events
        from events.devices import device_event

        session_events.subscribe(device_event)
