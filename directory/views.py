"""Directory pages for admins and readers (placeholder until the pages land)."""

from django.http import HttpResponse


def _todo(request, **kwargs):
    return HttpResponse("coming soon")


user_list = user_detail = group_list = group_detail = _todo
application_list = application_detail = role_list = role_detail = audit_list = _todo
