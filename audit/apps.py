from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib import admin
        from django.contrib.admin.models import LogEntry
        from django.db.models.signals import post_save

        from audit.admin_log import audited_delete_selected, record_admin_log_entry

        post_save.connect(record_admin_log_entry, sender=LogEntry, dispatch_uid="audit_admin_log")
        # Every admin's "delete selected" (the portal site's own action): see audited_delete_selected.
        admin.site.add_action(audited_delete_selected, "delete_selected")
