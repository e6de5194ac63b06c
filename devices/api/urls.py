from django.urls import re_path

from devices.api.views import (
    DeviceCollection,
    DeviceItem,
    DeviceMove,
    DeviceRelease,
    EnrollmentCollection,
    EnrollmentItem,
    ReprovisioningRequestCollection,
)

# The named collections come before `devices/<guid>`: neither name is a GUID.
urlpatterns = [
    re_path(r"^devices/?$", DeviceCollection.as_view()),
    re_path(r"^devices/reprovisioning-requests/?$", ReprovisioningRequestCollection.as_view()),
    re_path(r"^devices/enrollment/?$", EnrollmentCollection.as_view()),
    re_path(r"^devices/enrollment/(?P<guid>[^/]+)/?$", EnrollmentItem.as_view()),
    re_path(r"^devices/(?P<guid>[^/]+)/move/?$", DeviceMove.as_view()),
    re_path(r"^devices/(?P<guid>[^/]+)/release/?$", DeviceRelease.as_view()),
    re_path(r"^devices/(?P<guid>[^/]+)/?$", DeviceItem.as_view()),
]
