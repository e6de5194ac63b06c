"""What happened to machines: one Device per AMT GUID and the history of its provisioning runs.

Per-device secrets are never columns: they live in Vault at `devices/<guid>` where MPS reads
them (rps_site.vault.device_path).

The device channel is unauthenticated, so what a client reports is a claim. A device row records
what verified runs established (README "What the device channel trusts"): its tenant is fixed by
its first successful activation (`tenant_id` is NULL until then: an *unbound* device, whose
failed attempts are kept on its own history under the tenant each attempt named), and
`credential` says whether the secret stored for it may be replaced by an unverified activation.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from rps_site import vault


class ControlMode(models.IntegerChoices):
    """AMT's control mode: what a device reports (`currentMode`, protocol.md §2.4) and what the
    registry records. Declared once; the device channel reads the payload with it."""

    PRE_PROVISIONING = 0, "Pre-provisioning"
    CLIENT = 1, "Client control mode"
    ADMIN = 2, "Admin control mode"


class Device(models.Model):
    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        ACTIVATED = "activated", "Activated"
        DEACTIVATED = "deactivated", "Deactivated"
        FAILED = "failed", "Failed"

    class Credential(models.TextChoices):
        """Where the secret stored at `devices/<guid>` (if any) stands."""

        # No record of a stored secret: one found in Vault counts as in use (never re-keyed).
        UNKNOWN = "unknown", "No record"
        # Written for an activation (`credential_run`) that has not confirmed Setup: replaceable
        # once that run has ended.
        UNCONFIRMED = "unconfirmed", "Stored, not confirmed"
        # The device confirmed it uses the stored password: only a verified request changes it.
        CONFIRMED = "confirmed", "In use"
        # An admin released a re-provisioning request: the next activation may replace it.
        RELEASED = "released", "Released for re-provisioning"

    guid = models.CharField(max_length=36, unique=True)  # canonical: lower-case 8-4-4-4-12
    # NULL: unbound, no activation has succeeded yet. Set by the first one, then changed only by
    # an admin's move (devices.services.admin_actions.device_move).
    tenant_id = models.CharField(max_length=36, null=True, blank=True, db_index=True)
    hostname = models.CharField(max_length=255, blank=True, default="")
    dns_suffix = models.CharField(max_length=255, blank=True, default="")
    amt_version = models.CharField(max_length=32, blank=True, default="")
    amt_build = models.CharField(max_length=32, blank=True, default="")
    amt_sku = models.CharField(max_length=32, blank=True, default="")
    control_mode = models.IntegerField(choices=ControlMode.choices, default=ControlMode.PRE_PROVISIONING)
    profile_name = models.CharField(max_length=256, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    credential = models.CharField(max_length=16, choices=Credential.choices, default=Credential.UNKNOWN)
    credential_run = models.ForeignKey(
        "ProvisioningRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-last_seen_at", "guid"]
        indexes = [models.Index(fields=["tenant_id", "control_mode", "status"], name="device_tenant_state")]

    def __str__(self) -> str:
        return f"{self.hostname or '(no hostname)'} [{self.guid}]"

    @property
    def secret_path(self) -> str:
        return vault.device_path(self.guid)

    @property
    def bound(self) -> bool:
        return self.tenant_id is not None


class ProvisioningRun(models.Model):
    """One connection's work on a device: an activation, a deactivation or a maintenance task.

    `claimed_tenant_id`, `reported_hostname` and `reported_control_mode` are what the client said,
    unverified: a refused run keeps them so an operator can see who asked for what."""

    class Outcome(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="runs")
    # The device's tenant (NULL while it is unbound), copied so that a tenant's runs are read
    # without the devices table: set when the run starts, when the device is bound, when it moves.
    tenant_id = models.CharField(max_length=36, null=True, blank=True)
    action = models.CharField(max_length=32)
    profile_name = models.CharField(max_length=256, blank=True, default="")
    client_address = models.CharField(max_length=64, blank=True, default="")
    claimed_tenant_id = models.CharField(max_length=36, blank=True, default="", db_index=True)
    reported_hostname = models.CharField(max_length=255, blank=True, default="")
    reported_control_mode = models.IntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.IN_PROGRESS)
    failure_cause = models.TextField(blank=True, default="")
    status_message = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The serving worker that runs it (host:pid:random), while it lives holding the advisory lock
    # devices.ownership names; empty when recorded by a process that is not a serving worker.
    worker = models.CharField(max_length=96, blank=True, default="")
    # When the secret it stored as a first use was written (devices.ownership): from then on it
    # may have told the device (Setup follows at once); a run whose worker died before had not.
    secret_written_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            # The dashboard's activation counts: one tenant's entries, answered from the index.
            models.Index(
                fields=["tenant_id", "action", "started_at"], include=["outcome"], name="run_tenant_action_started"
            ),
            # The dashboard's latest failures of a tenant, newest first.
            models.Index(
                models.F("tenant_id"),
                models.F("started_at").desc(),
                models.F("id").desc(),
                condition=models.Q(outcome="failure"),
                name="run_tenant_failures_latest",
            ),
            # The orphan sweep's question, every minute on every worker: only runs in progress.
            models.Index(fields=["worker"], condition=models.Q(outcome="in_progress"), name="run_in_progress_worker"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.outcome} @ {self.started_at:%Y-%m-%d %H:%M:%S}"


class RunStep(models.Model):
    """One step of a run (e.g. `Setup`, `store passwords`, `register with MPS`) and its result."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"
        SKIPPED = "skipped", "Skipped"
        NOT_APPLICABLE = "not_applicable", "Not applicable"

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


class ReprovisioningRequest(models.Model):
    """A device whose activation was confirmed asked, unverified, to be activated from
    pre-provisioning again (a local reset: MEBx, CMOS clear; or someone claiming its GUID).
    Refused until an admin of its tenant releases it; repeated attempts update the open one."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        RELEASED = "released", "Released"
        COMPLETED = "completed", "Completed"  # the released device was activated again

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="reprovisioning_requests")
    # Who may see and release it: the device's tenant (the tenant the request named while the
    # device is unbound). Follows the device when an admin moves it.
    tenant_id = models.CharField(max_length=36, blank=True, default="", db_index=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    profile_name = models.CharField(max_length=256, blank=True, default="")
    client_address = models.CharField(max_length=64, blank=True, default="")
    reported_hostname = models.CharField(max_length=255, blank=True, default="")
    attempts = models.PositiveIntegerField(default=1)
    first_requested_at = models.DateTimeField(default=timezone.now)
    last_requested_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.CharField(max_length=150, blank=True, default="")
    # The Vault version of `devices/<guid>` at the release: kept as a prior version when the
    # next activation writes its own.
    released_secret_version = models.PositiveIntegerField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_requested_at", "-id"]
        verbose_name = "re-provisioning request"
        constraints = [
            models.UniqueConstraint(
                "device", condition=models.Q(state="open"), name="one_open_reprovisioning_request_per_device"
            )
        ]

    def __str__(self) -> str:
        return f"re-provisioning {self.device.guid} ({self.state})"


class EnrolledDevice(models.Model):
    """A GUID an admin expects in a tenant: with enrollment required for that tenant
    (`RPS_DEVICE_ENROLLMENT_REQUIRED`), the device channel refuses every other unbound GUID."""

    tenant_id = models.CharField(max_length=36, blank=True, default="")
    guid = models.CharField(max_length=36)  # canonical: lower-case 8-4-4-4-12
    note = models.CharField(max_length=255, blank=True, default="")
    enrolled_by = models.CharField(max_length=150, blank=True, default="")
    enrolled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["guid"]
        verbose_name = "enrolled device"
        constraints = [models.UniqueConstraint("tenant_id", "guid", name="enrolled_device_once_per_tenant")]

    def __str__(self) -> str:
        return f"{self.guid} ({self.tenant_id or 'default tenant'})"
