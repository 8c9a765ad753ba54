"""A transaction for one hypothesis example (or one role of a matrix) that is rolled back at its
end, so that the next one starts from the same database.

The services that are entry points run in durable transactions (transaction.atomic(durable=True)),
which refuse to nest in another atomic block except the test case's own. An example's block
stands in for the test case's own, so it is marked the way Django's TestCase marks its own
(`_from_testcase`); the services' durable blocks inside it are then savepoints, as they are
inside any TestCase.
"""

from django.db import transaction


class Rollback(Exception):
    """Raised at the end of an example to undo everything it wrote."""


def example_transaction() -> transaction.Atomic:
    atomic = transaction.atomic()
    atomic._from_testcase = True  # as django.test.TestCase marks its own (see the module docstring)
    return atomic
