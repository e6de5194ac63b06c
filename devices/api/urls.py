from django.urls import re_path

from devices.api.views import DeviceCollection, DeviceItem

urlpatterns = [
    re_path(r"^devices/?$", DeviceCollection.as_view()),
    re_path(r"^devices/(?P<guid>[^/]+)/?$", DeviceItem.as_view()),
]
