"""Real threads released together, for the PostgreSQL concurrency tests."""

import threading
from collections.abc import Callable

from django.db import connection

JOIN_TIMEOUT = 60  # seconds; a thread still running after this is a hang, reported as a failure


def run_concurrently(count: int, call: Callable[[int], object]) -> list[object]:
    """Run call(0) ... call(count - 1) in `count` threads released together by a barrier.

    Returns each call's result or the exception it raised, in thread order. Each thread uses its
    own database connection and closes it.
    """
    barrier = threading.Barrier(count)
    outcomes: list[object] = [None] * count

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=JOIN_TIMEOUT)
            outcomes[index] = call(index)
        except Exception as error:  # collected and asserted on by the test
            outcomes[index] = error
        finally:
            connection.close()  # each thread has its own connection; leave none open

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock or lock wait)"
    return outcomes
