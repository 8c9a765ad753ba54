"""Validation shared by every app's services."""


def is_whole_number(value: object) -> bool:
    """An int that is not a bool (True would otherwise count as 1 carton)."""
    return isinstance(value, int) and not isinstance(value, bool)
