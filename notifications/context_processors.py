from functools import cached_property

from notifications import selectors


class UnreadMessages:
    """The signed-in person's unread count, counted on first use (pages without a nav never do)."""

    def __init__(self, user):
        self._user = user

    @cached_property
    def count(self) -> int:
        if not getattr(self._user, "is_authenticated", False):
            return 0
        return selectors.unread_count(self._user)


def unread_messages(request):
    """`inbox_unread.count` in every template: the badge on the Inbox link."""
    return {"inbox_unread": UnreadMessages(getattr(request, "user", None))}
