"""The shared shape of the config admin pages (domains, CIRA, wireless, 802.1X, proxy).

Forms run the API's own validation chains on the body the API would receive, and the admin
saves and deletes through the same services as the API, so Vault is written the same way.
Secret inputs are write-only (never rendered back) and never named in the admin log. A
non-superuser sees only the rows of their tenant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from rps_site.api.validation import Field, validate
from rps_site.errors import RpsError, ValidationFailed
from rps_site.models import TenantMembership
from rps_site.sensitive import Secret


def admin_tenant(request: HttpRequest) -> str:
    return TenantMembership.tenant_of(request.user)


def record_tenant(request: HttpRequest, obj: Any) -> str:
    """The tenant a form is for: the record's own, or the user's for a new one."""
    return obj.tenant_id if obj is not None and obj.pk else admin_tenant(request)


def without_secret_fields(
    message: list[dict[str, Any]], form: Any, secret_names: Iterable[str]
) -> list[dict[str, Any]]:
    """An admin log message with the secret inputs left out of every list of changed fields."""
    hidden = {str(form.fields[name].label or name) for name in secret_names if name in form.fields}
    hidden |= {name.replace("_", " ").capitalize() for name in secret_names}
    cleaned: list[dict[str, Any]] = []
    for entry in message:
        item: dict[str, Any] = {}
        for action, details in entry.items():
            if isinstance(details, dict) and "fields" in details:
                details = {**details, "fields": [name for name in details["fields"] if name not in hidden]}
            item[action] = details
        cleaned.append(item)
    return cleaned


def secret_input(help_text: str, *, label: str | None = None) -> forms.CharField:
    """A write-only input: never rendered back, and browsers are told not to fill in a saved login."""
    return forms.CharField(
        required=False,
        strip=False,
        label=label,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=help_text,
    )


def checkbox(label: str, help_text: str = "") -> forms.BooleanField:
    return forms.BooleanField(required=False, label=label, help_text=help_text)


def radio() -> forms.RadioSelect:
    return forms.RadioSelect(attrs={"class": "portal-radio"})


def number_choice(label: str, choices: type[models.IntegerChoices], initial: int, help_text: str = "") -> forms.Field:
    """One of an enumeration's numbers, picked by its name."""
    return forms.TypedChoiceField(
        label=label, choices=choices.choices, coerce=int, initial=initial, widget=radio(), help_text=help_text
    )


def either(label: str, yes: str, no: str, *, initial: bool | None = None, help_text: str = "") -> forms.Field:
    """A yes/no choice whose two answers have names of their own (DHCP or static, wired or wireless)."""
    return forms.TypedChoiceField(
        label=label,
        choices=[(True, yes), (False, no)],
        coerce=lambda value: value == "True",
        initial=initial,
        widget=radio(),
        help_text=help_text,
    )


def optional_config(model: type[models.Model], label: str, help_text: str) -> forms.ModelChoiceField:
    """A choice among the tenant's configs of `model` (the form sets the queryset), or none."""
    return forms.ModelChoiceField(
        queryset=model._default_manager.none(), required=False, label=label, empty_label="None", help_text=help_text
    )


def optional_text(label: str, help_text: str = "", **kwargs: Any) -> forms.CharField:
    """An optional text input whose empty value is "not given" (None), as in an API body."""
    return forms.CharField(required=False, empty_value=None, label=label, help_text=help_text, **kwargs)


RECORD_FIELDSET = ("Record", {"fields": ["tenant_id", "version"], "classes": ["collapse"]})


SERVICE_ERROR_ATTRIBUTE = "rps_service_error"


class ShowsServiceErrors(forms.BaseForm):
    """A form that shows, as a form error, why the service refused to save what it validated
    (`ServiceSavingAdmin`): what was typed stays in the form (secret inputs are never rendered
    back)."""

    service_error: ClassVar[str] = ""

    def full_clean(self) -> None:
        super().full_clean()
        if self.service_error and self.is_bound:
            self.add_error(None, self.service_error)


class ServiceSavingAdmin(admin.ModelAdmin):
    """Saves through a service that keeps the database and Vault together in its own transaction.

    Django wraps a save in an outer transaction, which could still roll back rows whose secrets
    Vault already holds, so POSTs run without it. A service refusal (a name taken, a concurrent
    change, Vault unavailable) shows on the form again, with what was typed."""

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if issubclass(form, ShowsServiceErrors):
            form.service_error = getattr(request, SERVICE_ERROR_ATTRIBUTE, "")
        return form

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if request.method != "POST":
            return super().changeform_view(request, object_id, form_url, extra_context)
        # Django's changeform_view is this same call inside `transaction.atomic()` (a private API:
        # rps_site/private_apis.py).
        try:
            return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined, no-any-return]
        except RpsError as error:
            # The service saved nothing; the same POST again is a form that reports why.
            setattr(request, SERVICE_ERROR_ATTRIBUTE, error.public_message)
            return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined, no-any-return]

    def delete_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().delete_view(request, *args, **kwargs)
        except RpsError as error:
            self.message_user(request, error.public_message, level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        try:
            return super().changelist_view(request, extra_context)
        except RpsError as error:  # a bulk delete
            self.message_user(request, error.public_message, level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class ApiValidatedForm(ShowsServiceErrors, forms.ModelForm):
    """A model form whose final word is the API's validation of `api_body()`."""

    secret_fields: ClassVar[Mapping[str, str]] = {}  # form field -> API field
    extra_secret_api_fields: ClassVar[tuple[str, ...]] = ()  # secrets api_body() adds itself
    field_of: ClassVar[Mapping[str, str]] = {}  # API field -> form field
    tenant_id: str = ""
    service_data: Any
    expected_version: int | None = None  # the version of the record the form changes

    def api_body(self) -> dict[str, Any]:
        raise NotImplementedError

    def api_chains(self) -> list[Field]:
        raise NotImplementedError

    def service_input(self, body: dict[str, Any]) -> Any:
        """The validated body as the create or update service takes it (by default, the body)."""
        return body

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # ModelForm.clean() returns cleaned_data
        if self.errors:
            return cleaned
        body = self.api_body()
        for form_field, api_field in self.secret_fields.items():
            if cleaned.get(form_field):
                body[api_field] = cleaned[form_field]
        secret_api_fields = [*self.secret_fields.values(), *self.extra_secret_api_fields]
        try:
            validate(self.api_chains(), body, secret_paths=secret_api_fields)
        except ValidationFailed as failed:
            for error in failed.errors:
                field = self.field_of.get(error["path"], error["path"])
                self.add_error(field if field in self.fields else None, error["msg"])
            return cleaned
        for api_field in secret_api_fields:
            if isinstance(body.get(api_field), str) and body[api_field]:
                body[api_field] = Secret(body[api_field])
        if self.instance.pk:
            self.expected_version = self.instance.version
            body["version"] = str(self.instance.version)  # what some update chains require
        self.service_data = self.service_input(body)
        return cleaned


class ServiceBackedAdmin(ServiceSavingAdmin):
    """Saves and deletes through `create_service` / `update_service` / `delete_service`."""

    create_service: ClassVar[Callable[..., models.Model]]
    update_service: ClassVar[Callable[..., models.Model]]
    delete_service: ClassVar[Callable[..., None]]
    versioned: ClassVar[bool] = True  # whether the update service checks the record's version
    readonly_on_change: ClassVar[tuple[str, ...]] = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(tenant_id=admin_tenant(request))

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        return [*fieldsets, RECORD_FIELDSET] if obj is not None and self.fieldsets else fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fixed = tuple(super().get_readonly_fields(request, obj))
        return fixed + self.readonly_on_change if obj is not None else fixed

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        assert issubclass(form, ApiValidatedForm)  # built from the admin's `form`
        form.tenant_id = record_tenant(request, obj)
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            saved = type(self).create_service(tenant_id=form.tenant_id, data=form.service_data)
        elif self.versioned:
            saved = type(self).update_service(
                tenant_id=form.tenant_id, data=form.service_data, expected_version=form.expected_version
            )
        else:
            saved = type(self).update_service(tenant_id=form.tenant_id, data=form.service_data)
        for field in obj._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """The service wrote everything there is."""

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        type(self).delete_service(tenant_id=obj.tenant_id, name=obj.name)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> list[dict[str, Any]]:
        """The admin log names changed fields; secret inputs are left out altogether."""
        message = super().construct_change_message(request, form, formsets, add)
        return without_secret_fields(message, form, getattr(form, "secret_fields", {}))
