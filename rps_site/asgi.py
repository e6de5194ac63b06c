"""ASGI entry point: HTTP goes to Django (through its WSGI handler, see rps_site.http_bridge),
WebSockets to the portal's live progress (`/portal/live`), the Enterprise Assistant consumer
(`/ea`, or any path on `RPS_EA_PORT`) or else to the device consumer (any path). A bad setting,
an unreachable database or an unfit Vault credential ends the server at start with one line
naming the cause (rps_site.startup)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

from rps_site.startup import check_database, exit_on_startup_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rps_site.settings")
with exit_on_startup_error():
    django_application = get_wsgi_application()
    check_database()
    from rps_site.checks import refuse_unfit_vault_credential  # (needs Django set up first)

    refuse_unfit_vault_credential()  # outside debug: no root, refused or under-privileged Vault token

from channels.routing import ProtocolTypeRouter  # noqa: E402  (needs Django set up first)
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import StaticFilesHandler  # noqa: E402

from activation.enterprise_assistant.routing import EnterpriseAssistantListener  # noqa: E402
from activation.routing import websocket_application  # noqa: E402
from portal.consumers import PortalLiveRoute  # noqa: E402
from rps_site.http_bridge import DjangoHttpBridge  # noqa: E402

# The portal's CSS/JS come from the app itself unless a proxy or CDN serves STATIC_URL.
http_application = DjangoHttpBridge(
    StaticFilesHandler(django_application) if settings.SERVE_STATIC else django_application
)

application = EnterpriseAssistantListener(
    ProtocolTypeRouter({"http": http_application, "websocket": PortalLiveRoute(websocket_application())})
)

# Everything loaded so far (Django, the apps, the libraries: some 170,000 objects) lives as long as
# the process. Frozen, the collector's full passes stop rescanning it while activations allocate.
gc.freeze()
