"""The chaos run: GreenBox's whole stack under load and faults, then an audit of what survived.

    make chaos                                   (2 minutes, at least 20 faults)
    .venv/bin/python chaos/run.py --duration 30  (the short run .ci/run does)

Needs root on a machine whose PostgreSQL (127.0.0.1:5432, user postgres, trust) and Redis
(127.0.0.1:6379) it may restart; it starts them if they are down and leaves them up. Steps
(Jepsen's bank test, on one machine):

1. Set-up (chaos/seed.py): drops and recreates its own database, greenbox_chaos, migrates it
   and seeds two cities, six stations, staff and members with API tokens, an earning rule,
   two goods with stock and a donation campaign, through the services. The daily totals are
   rescheduled to every few seconds so that beat and the worker run them during the chaos.
2. Services (chaos/processes.py): gunicorn (gthread), a Celery worker and Celery beat, each
   in its own process group, with chaos/settings.py (the base settings without DEBUG, with
   the production's persistent, health-checked database connections).
3. Load (chaos/client.py): CLIENTS processes send random drop-offs, batch syncs,
   reservations, cancellations, collections, donations and voids through the HTTP API, each
   with an Idempotency-Key, retrying errors, timeouts, 5xx and "in progress" 409s with the
   same key (bounded, with backoff). Every operation's outcome goes to a JSONL log:
   acknowledged (2xx), refused (a 4xx domain refusal: an outcome too) or unacknowledged.
4. Faults (chaos/processes.py), seeded by --seed, every few seconds, in rounds that hold
   each kind once: SIGKILL a gunicorn worker, SIGKILL a Celery pool child right after a burst
   of tasks (mid-task), SIGKILL the whole Celery worker and restart it, restart Redis,
   restart PostgreSQL in fast mode.
5. Audit (chaos/checks.py), once the services are back and every touched day was
   re-aggregated: the ledger checks of `manage.py check_ledger`; every acknowledged
   operation is in the database exactly once (with the acknowledged id), every refused one
   not at all, every unacknowledged one at most once, nothing unsent is there; acknowledged
   cancels, collections and voids hold; stock is never negative and is conserved; daily
   totals equal an independent GROUP BY; no answer a client got was unexpected; no 500 had
   a cause other than the injected faults (chaos/errorlog.py records the cause of each).

It prints the operations, the faults by kind and the violations, and exits 1 on any
violation or when fewer faults than --min-faults were injected. Logs are in
var/chaos/<start time>/ (ops-*.jsonl, faults.jsonl, server-errors.jsonl, the services' logs).
"""
