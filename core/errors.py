"""The base class of every domain refusal, importable from every app.

A refusal is one that the admin, the pages and the API show to people. Each carries a stable
`code` (for API clients) and a translated message. A service raises one before it writes
anything, or inside its transaction so that nothing is written.
"""

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code = "domain_error"
    default_message = _("The request was refused.")

    def __init__(self, message: str | None = None):
        self.message = message or self.default_message
        super().__init__(str(self.message))


def error_class_for_code(code: str) -> type[DomainError]:
    """The DomainError subclass with this code (DomainError itself if none), to replay a refusal."""
    pending = [DomainError]
    while pending:
        cls = pending.pop()
        if cls.code == code:
            return cls
        pending.extend(cls.__subclasses__())
    return DomainError
