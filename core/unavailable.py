"""The errors that mean a service the app depends on is down, not that the request was bad.

PostgreSQL gone away or refusing connections (Django's OperationalError and InterfaceError,
which wrap psycopg's), Redis unreachable (redis-py's RedisError: connection refused, a time-out,
a server still loading its data) and the Celery broker not answering (kombu's OperationalError).
The API answers them 503 in its error shape (api.errors), pages a plain 503 page
(config.middleware): retrying later may succeed, and no row was written (each write is one
transaction, rolled back when its connection fails).
"""

import logging

from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

# Log lines of every degraded answer (a throttle failing open, a recompute that could not be
# queued, a 503): one logger name for ops to follow and alert on.
logger = logging.getLogger("greenbox.degraded")

DEPENDENCY_ERRORS = (OperationalError, InterfaceError, RedisError, BrokerError)


def is_dependency_failure(error: BaseException | None) -> bool:
    return isinstance(error, DEPENDENCY_ERRORS)
