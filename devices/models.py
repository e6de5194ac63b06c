"""What happened to machines: one Device per AMT GUID and the history of its provisioning runs.

Per-device secrets are never columns: they live in Vault at `devices/<guid>` where MPS reads
them (rps_site.vault.device_path).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from rps_site import vault


class Device(models.Model):
    class ControlMode(models.IntegerChoices):
        PRE_PROVISIONING = 0, "Pre-provisioning"
        CCM = 1, "Client control mode"
        ACM = 2, "Admin control mode"

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        ACTIVATED = "activated", "Activated"
        DEACTIVATED = "deactivated", "Deactivated"
        FAILED = "failed", "Failed"

    guid = models.CharField(max_length=36, unique=True)  # canonical: lower-case 8-4-4-4-12
    tenant_id = models.CharField(max_length=36, blank=True, default="", db_index=True)
    hostname = models.CharField(max_length=255, blank=True, default="")
    dns_suffix = models.CharField(max_length=255, blank=True, default="")
    amt_version = models.CharField(max_length=32, blank=True, default="")
    amt_build = models.CharField(max_length=32, blank=True, default="")
    amt_sku = models.CharField(max_length=32, blank=True, default="")
    control_mode = models.IntegerField(choices=ControlMode.choices, default=ControlMode.PRE_PROVISIONING)
    profile_name = models.CharField(max_length=256, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    activated_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-last_seen_at", "guid"]

    def __str__(self) -> str:
        return f"{self.hostname or '(no hostname)'} [{self.guid}]"

    @property
    def secret_path(self) -> str:
        return vault.device_path(self.guid)


class ProvisioningRun(models.Model):
    """One connection's work on a device: an activation, a deactivation or a maintenance task."""

    class Outcome(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="runs")
    action = models.CharField(max_length=32)
    profile_name = models.CharField(max_length=256, blank=True, default="")
    client_address = models.CharField(max_length=64, blank=True, default="")
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.IN_PROGRESS)
    failure_cause = models.TextField(blank=True, default="")
    status_message = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.outcome} @ {self.started_at:%Y-%m-%d %H:%M:%S}"


class RunStep(models.Model):
    """One step of a run (e.g. `Setup`, `store passwords`, `register with MPS`) and its result."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"
        SKIPPED = "skipped", "Skipped"

    run = models.ForeignKey(ProvisioningRun, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=128)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.TextField(blank=True, default="")
    recorded_at = models.DateTimeField(default=timezone.now)  # when the step ended

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint("run", "position", name="run_step_position")]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}: {self.outcome}"
