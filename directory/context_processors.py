from django.utils.functional import SimpleLazyObject

from directory.capabilities import capabilities_for


def capabilities(request):
    """`caps` in every template: what the signed-in person may use (computed only if read)."""
    return {"caps": SimpleLazyObject(lambda: capabilities_for(request.user))}
