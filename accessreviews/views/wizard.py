"""The create-review wizard, the edit form and the choosers (placeholders until they land)."""

from django.http import HttpResponse


def _todo(request, **kwargs):
    return HttpResponse("coming soon")


definition_create = definition_edit = chooser = _todo
