"""Inline rows and formsets: principals fixed once saved, rows saved through services."""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

# Inlines on a change page show at most this many rows; the linked list pages show them all.
INLINE_ROW_LIMIT = 100


class RelatedLinkWidget(forms.Widget):
    """Shows a saved row's related object as a link to its page (no query, nothing to edit)."""

    def __init__(self, related):
        super().__init__()
        self.related = related

    def render(self, name, value, attrs=None, renderer=None):
        if self.related is None:
            return mark_safe('<div class="readonly">-</div>')  # noqa: S308 (a constant)
        meta = self.related._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[self.related.pk])
        return format_html('<div class="readonly"><a href="{}">{}</a></div>', url, self.related)


class LockedRowForm(forms.ModelForm):
    """An inline row whose principal is fixed once saved: remove the row and add another."""

    locked_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            return
        for name in self.locked_fields:
            if name in self.fields:
                self.fields[name].disabled = True
                self.fields[name].widget = RelatedLinkWidget(getattr(self.instance, name))


class PrefixedInlineFormSet(forms.BaseInlineFormSet):
    """A readable form prefix, and at most `row_limit` rows (the list page has the rest)."""

    prefix_name = ""
    row_limit: int | None = None

    @classmethod
    def get_default_prefix(cls):
        return cls.prefix_name or super().get_default_prefix()

    def get_queryset(self):
        if not hasattr(self, "_queryset"):
            queryset = super().get_queryset()
            self._queryset = queryset[: self.row_limit] if self.row_limit else queryset
        return self._queryset


class ServiceInlineFormSet(PrefixedInlineFormSet):
    """Inline rows that a directory service adds, changes and removes (validated and audited)."""

    def added_forms(self):
        return [
            form
            for form in self.extra_forms
            if form.has_changed() and not self._should_delete_form(form)
        ]

    def changed_forms(self):
        return [
            form
            for form in self.initial_forms
            if form.has_changed() and not self._should_delete_form(form)
        ]

    def removed_forms(self):
        return [form for form in self.initial_forms if self._should_delete_form(form)]

    def save_through_services(self, actor) -> None:
        # The admin's change message reads these three lists, as formset.save() would set them.
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        for form in self.removed_forms():
            self.remove(actor, form.instance)
            self.deleted_objects.append(form.instance)
        for form in self.changed_forms():
            self.change(actor, form)
            self.changed_objects.append((form.instance, form.changed_data))
        for form in self.added_forms():
            self.new_objects.append(self.add(actor, form))

    def add(self, actor, form):
        raise NotImplementedError

    def change(self, actor, form):
        raise NotImplementedError(f"{type(self).__name__} rows cannot be changed")

    def remove(self, actor, obj):
        raise NotImplementedError


class UserRowForm(LockedRowForm):
    locked_fields = ("user",)


class OwnerInline(admin.TabularInline):
    """Owner rows (users by display name); subclasses name the model and the formset."""

    form = UserRowForm
    fields = ("user", "added_at")
    readonly_fields = ("added_at",)
    autocomplete_fields = ("user",)
    extra = 0
    verbose_name, verbose_name_plural = "owner", "owners"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user").order_by("user__display_name")
