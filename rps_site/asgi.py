"""ASGI entry point: HTTP goes to Django, WebSockets (any path) to the device consumer."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rps_site.settings")
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402  (needs Django set up first)
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

# The portal's CSS/JS come from the app itself unless a proxy or CDN serves STATIC_URL.
http_application = ASGIStaticFilesHandler(django_application) if settings.SERVE_STATIC else django_application

from activation.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter({"http": http_application, "websocket": websocket_application()})
