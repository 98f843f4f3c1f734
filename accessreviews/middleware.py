import zoneinfo

from django.http import HttpResponseBadRequest
from django.utils import timezone


class RefuseNulBytesMiddleware:
    """Answer 400 to a query string or form field containing NUL.

    PostgreSQL refuses NUL in text ("A string literal cannot contain NUL"), which would surface
    as a 500 from whichever query first used the value; refusing it at the door names the field.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for source, params in (("query parameter", request.GET), ("form field", request.POST)):
            for name, values in params.lists():
                if "\x00" in name or any("\x00" in value for value in values):
                    return HttpResponseBadRequest(
                        f"The {source} {name.replace(chr(0), '')!r} contains a NUL character.",
                        content_type="text/plain",
                    )
        return self.get_response(request)


class UserTimeZoneMiddleware:
    """Show times in the signed-in person's own time zone when their profile has one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = request.user.time_zone if request.user.is_authenticated else ""
        if zone:
            try:
                timezone.activate(zoneinfo.ZoneInfo(zone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)
