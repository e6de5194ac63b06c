from django.urls import re_path

from audit.api.views import AuditCollection

urlpatterns = [re_path(r"^audit/?$", AuditCollection.as_view())]
