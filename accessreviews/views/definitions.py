"""The reviews list, a series page, and its pause / resume / end / delete (placeholders)."""

from django.http import HttpResponse


def _todo(request, **kwargs):
    return HttpResponse("coming soon")


definition_list = definition_detail = _todo
definition_pause = definition_resume = definition_end = definition_delete = _todo
