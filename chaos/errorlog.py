"""A logging handler for the chaos run's gunicorn: each server error (django.request, ERROR: a 5xx
answer, a 500 or a 503 the app gave because a dependency was down) as one JSON line, with its
status and the exception that caused it, in the file CHAOS_ERROR_LOG names. The audit
then tells the 500s the injected faults explain (the database or Redis went away) from bugs."""

import json
import logging
import os
import time


class JsonErrorHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        path = os.environ.get("CHAOS_ERROR_LOG")
        if not path:
            return
        exc_type, exc, _traceback = record.exc_info or (None, None, None)
        causes = []
        while exc is not None and len(causes) < 5:  # the chain: a wrapped driver error names the real cause
            causes.append(f"{type(exc).__module__}.{type(exc).__qualname__}")
            exc = exc.__cause__ or exc.__context__
        line = {
            "t": time.time(),
            "pid": os.getpid(),
            "status": getattr(record, "status_code", None),
            "message": record.getMessage()[:300],
            "exception": f"{exc_type.__module__}.{exc_type.__qualname__}" if exc_type else None,
            "causes": causes,
            "detail": str(record.exc_info[1])[:300] if record.exc_info else None,
        }
        try:
            with open(path, "a", encoding="utf-8") as log:  # one short write per line: appends interleave whole
                log.write(json.dumps(line) + "\n")
        except OSError:
            self.handleError(record)
