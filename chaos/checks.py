"""The audit after the chaos: what the clients were told against what the database holds.

Outcomes come from the clients' JSONL logs (chaos/client.py). The database's rows are found by
the idempotency keys the clients sent: each key's stored outcome (idempotency.models.
IdempotencyKey, in the station's scope for drop-offs, the member's for reservations and
donations) names the row its write produced, so each operation is matched to its rows without
trusting any id the server reported for it.
"""

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

# 500s whose cause is the database or Redis going away: the injected faults explain them.
EXPLAINED_CAUSES = (
    "django.db.utils.OperationalError",
    "django.db.utils.InterfaceError",
    "redis.exceptions.ConnectionError",
    "redis.exceptions.TimeoutError",
    "redis.exceptions.BusyLoadingError",
    "kombu.exceptions.OperationalError",
)


@dataclass
class Report:
    operations: dict = field(default_factory=lambda: defaultdict(Counter))  # kind -> outcome -> count
    items: Counter = field(default_factory=Counter)  # batch items by outcome
    retries: Counter = field(default_factory=Counter)  # attempts answered with an error, by why
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def violation(self, message: str) -> None:
        self.violations.append(message)


def read_ops(logs: Path) -> list[dict]:
    ops = []
    for path in sorted(logs.glob("ops-*.jsonl")):
        with open(path, encoding="utf-8") as lines:
            ops.extend(json.loads(line) for line in lines if line.strip())
    return ops


def stored_key(scope: str, key: str) -> str:
    """How a sent key is named here: its scope and the key (idempotency.services' scopes)."""
    return f"{scope} {key}"


def stored_results(operation: str) -> dict[str, dict | None]:
    """The outcome of every key claimed for one operation (the services' operation names: a void's
    or a cancel's key names the row it changed, not one it wrote): its result (None for a
    refusal), by stored_key()."""
    from idempotency.models import IdempotencyKey

    keys = IdempotencyKey.objects.filter(operation=operation)
    return {stored_key(scope, key): result for scope, key, result in keys.values_list("scope", "key", "result")}


def member_scopes() -> dict[int, str]:
    """The member scope of each member's user id."""
    from idempotency.services import member_scope
    from recycling.models import Member

    return {user_id: member_scope(member_id) for user_id, member_id in Member.objects.values_list("user_id", "id")}


def audit(*, logs: Path, data: dict) -> Report:
    from django.db import connection

    from ledger.audit import ledger_violations

    report = Report()
    ops = read_ops(logs)
    for op in ops:
        report.operations[op["op"]][op["outcome"]] += 1
        for attempt in op["attempts"]:
            if attempt["status"] is None:
                report.retries["connection error or timeout"] += 1
            elif attempt["status"] >= 500 or attempt["status"] == 429:
                report.retries[f"HTTP {attempt['status']}"] += 1
            elif attempt.get("code") == "idempotency_request_in_progress":
                report.retries["409 request in progress"] += 1
        if op["outcome"] == "refused" and not op.get("expected"):
            report.violation(
                f"unexpected answer {op['status']} {op.get('code')} to {op['op']} {op['path']}: {op['key']}"
            )

    touched = aggregate_touched_days()
    report.notes.append(f"re-aggregated {len(touched)} day(s): {', '.join(d.isoformat() for d in touched)}")
    report.violations += [f"check_ledger: {v}" for v in ledger_violations()]
    check_dropoffs(report, ops)
    check_redemptions(report, ops, data)
    check_donations(report, ops)
    check_totals(report, touched)
    check_server_errors(report, logs)
    connection.close()
    return report


def aggregate_touched_days() -> list[date]:
    """Run the final aggregation of every Shanghai day with a drop-off or a spending transfer."""
    from django.db import connection

    from recycling.totals import aggregate_day

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT (occurred_at AT TIME ZONE 'Asia/Shanghai')::date FROM recycling_dropoff
            UNION SELECT (created_at AT TIME ZONE 'Asia/Shanghai')::date FROM recycling_transfer
            ORDER BY 1
            """
        )
        days = [row[0] for row in cursor.fetchall()]
    for day in days:
        aggregate_day(day=day)
    return days


# --- Drop-offs and voids --------------------------------------------------------------------


def dropoff_outcomes(report: Report, ops: list[dict]) -> dict[str, dict]:
    """Each drop-off sent (alone or in batches), by service key: request, outcome, acked ids."""
    sent: dict[str, dict] = {}

    def outcome(key: str, op: dict, request: dict, result: str, dropoff_id=None) -> None:
        entry = sent.setdefault(key, {"request": request, "results": [], "ids": set()})
        entry["results"].append(result)
        if dropoff_id is not None:
            entry["ids"].add(dropoff_id)

    from idempotency.services import station_scope

    for op in ops:
        if op["op"] == "dropoff":
            request = {**op["body"]}
            dropoff_id = op["response"]["id"] if op["outcome"] == "acked" else None
            outcome(stored_key(station_scope(request["station"]), op["key"]), op, request, op["outcome"], dropoff_id)
        elif op["op"] == "batch":
            results = op["response"]["results"] if op["outcome"] == "acked" else [None] * len(op["body"]["items"])
            for item, result in zip(op["body"]["items"], results, strict=True):
                request = {**item, "station": op["body"]["station"]}
                key = stored_key(station_scope(request["station"]), item["idempotency_key"])
                if result is None:
                    outcome(key, op, request, "unacked")
                elif result["result"] in ("created", "replayed"):
                    outcome(key, op, request, "acked", result["dropoff"]["id"])
                elif result["error"]["code"] in ("retry", "idempotency_request_in_progress"):
                    # Not recorded now (or still being recorded by an earlier attempt of the batch).
                    outcome(key, op, request, "unacked")
                else:
                    report.violation(f"batch item {key} refused: {result['error']['code']}")
                    outcome(key, op, request, "refused")
    return sent


def check_dropoffs(report: Report, ops: list[dict]) -> None:
    from recycling.models import DropOff

    sent = dropoff_outcomes(report, ops)
    by_id = {row["id"]: row for row in DropOff.objects.values("id", "station_id", "member__code", "cartons", "status")}
    results = stored_results("dropoff")
    rows = {key: by_id[result["dropoff"]] for key, result in results.items() if result and "dropoff" in result}
    for key, entry in sent.items():
        final = "acked" if "acked" in entry["results"] else "refused" if "refused" in entry["results"] else "unacked"
        if "idempotency_key" in entry["request"]:  # an item of a batch
            report.items[final] += 1
        row, request = rows.get(key), entry["request"]
        if final == "acked":
            if len(entry["ids"]) != 1:
                report.violation(f"drop-off {key} acknowledged with different ids {sorted(entry['ids'])}")
            if row is None:
                report.violation(f"acknowledged drop-off {key} (id {sorted(entry['ids'])}) is missing")
                continue
            if row["id"] not in entry["ids"]:
                report.violation(f"drop-off {key} acknowledged as {sorted(entry['ids'])} but stored as {row['id']}")
        elif final == "refused" and row is not None:
            report.violation(f"refused drop-off {key} was written (id {row['id']})")
        if row is not None and (row["station_id"], row["member__code"], row["cartons"]) != (
            request["station"],
            request["member_code"],
            request["cartons"],
        ):
            report.violation(f"drop-off {key} stored with other values than sent: {row}")
    unacked_written = sum(
        1 for key, entry in sent.items() if "acked" not in entry["results"] and "refused" not in entry["results"]
        and key in rows
    )  # fmt: skip
    report.notes.append(f"unacknowledged drop-offs that were written anyway (once): {unacked_written}")
    for key in rows.keys() - sent.keys():
        report.violation(f"drop-off {key} (id {rows[key]['id']}) was never sent")
    for dropoff_id in by_id.keys() - {row["id"] for row in rows.values()}:
        report.violation(f"drop-off {dropoff_id} was written under no key")

    voids = defaultdict(list)
    for op in ops:
        if op["op"] == "void":
            voids[op["target"]].append(op["outcome"])
    for dropoff_id, outcomes in voids.items():
        status = by_id[dropoff_id]["status"] if dropoff_id in by_id else None
        if "acked" in outcomes and status != DropOff.Status.VOIDED:
            report.violation(f"acknowledged void of drop-off {dropoff_id}, which is {status}")
        if outcomes == ["refused"] and status != DropOff.Status.ACCEPTED:
            report.violation(f"refused void of drop-off {dropoff_id}, which is {status}")
    for row in rows.values():
        if row["status"] == DropOff.Status.VOIDED and row["id"] not in voids:
            report.violation(f"drop-off {row['id']} is voided but nobody voided it")


# --- Reservations, cancellations, collections, stock -------------------------------------------


def check_redemptions(report: Report, ops: list[dict], data: dict) -> None:
    from rewards.models import Redemption, StationStock

    by_id = {row["id"]: row for row in Redemption.objects.values("id", "status", "station_id", "reward_id", "quantity")}
    results, scopes = stored_results("reserve"), member_scopes()
    rows = {key: by_id[result["redemption"]] for key, result in results.items() if result and "redemption" in result}
    sent = set()
    for op in ops:
        if op["op"] != "reserve":
            continue
        key = stored_key(scopes[op["user"]], op["key"])
        sent.add(key)
        row = rows.get(key)
        if op["outcome"] == "acked" and (row is None or row["id"] != op["response"]["id"]):
            report.violation(f"acknowledged reservation {op['key']} (id {op['response']['id']}) stored as {row}")
        if op["outcome"] == "refused" and row is not None:
            report.violation(f"refused reservation {op['key']} was written (id {row['id']})")
    for key in rows.keys() - sent:
        report.violation(f"redemption {rows[key]['id']} ({key}) was never sent")
    for redemption_id in by_id.keys() - {row["id"] for row in rows.values()}:
        report.violation(f"redemption {redemption_id} was written under no key")

    ends = defaultdict(list)  # redemption id -> [(op, outcome)]
    for op in ops:
        if op["op"] in ("cancel", "collect"):
            ends[op["target"]].append((op["op"], op["outcome"]))
    final_status = {"cancel": Redemption.Status.CANCELLED, "collect": Redemption.Status.COLLECTED}
    for redemption_id, row in by_id.items():
        acts = ends.get(redemption_id, [])
        allowed = {Redemption.Status.RESERVED} if not any(o == "acked" for _op, o in acts) else set()
        allowed |= {final_status[act] for act, outcome in acts if outcome in ("acked", "unacked")}
        if row["status"] not in allowed:
            report.violation(f"redemption {redemption_id} is {row['status']} after {acts or 'nothing'}")

    taken = Counter()
    for row in by_id.values():
        if row["status"] in (Redemption.Status.RESERVED, Redemption.Status.COLLECTED):
            taken[f"{row['station_id']}:{row['reward_id']}"] += row["quantity"]
    for stock in StationStock.objects.values("station_id", "reward_id", "quantity"):
        where = f"{stock['station_id']}:{stock['reward_id']}"
        if stock["quantity"] < 0:
            report.violation(f"stock {where} below zero: {stock['quantity']}")
        expected = data["initial_stock"][where] - taken[where]
        if stock["quantity"] != expected:
            report.violation(f"stock {where} is {stock['quantity']}, but seeded - reserved = {expected}")


def check_donations(report: Report, ops: list[dict]) -> None:
    from rewards.models import Donation

    by_id = {row["id"]: row for row in Donation.objects.values("id")}
    results, scopes = stored_results("donate"), member_scopes()
    rows = {key: by_id[result["donation"]] for key, result in results.items() if result and "donation" in result}
    sent = set()
    for op in ops:
        if op["op"] != "donate":
            continue
        key = stored_key(scopes[op["user"]], op["key"])
        sent.add(key)
        row = rows.get(key)
        if op["outcome"] == "acked" and (row is None or row["id"] != op["response"]["id"]):
            report.violation(f"acknowledged donation {op['key']} (id {op['response']['id']}) stored as {row}")
        if op["outcome"] == "refused" and row is not None:
            report.violation(f"refused donation {op['key']} was written (id {row['id']})")
    for key in rows.keys() - sent:
        report.violation(f"donation {rows[key]['id']} ({key}) was never sent")
    for donation_id in by_id.keys() - {row["id"] for row in rows.values()}:
        report.violation(f"donation {donation_id} was written under no key")


# --- Daily totals ----------------------------------------------------------------------------

# The ground truth, independent of recycling/totals.py: days by AT TIME ZONE, not day_bounds().
GROUND_TRUTH_STATIONS = """
SELECT station_id, day, SUM(cartons), SUM(dropoffs), SUM(members), SUM(points_issued),
       SUM(points_redeemed), SUM(points_donated)
FROM (
    SELECT d.station_id, (d.occurred_at AT TIME ZONE 'Asia/Shanghai')::date AS day, SUM(d.cartons) AS cartons,
           COUNT(*) AS dropoffs, COUNT(DISTINCT d.member_id) AS members, SUM(d.points) AS points_issued,
           0 AS points_redeemed, 0 AS points_donated
    FROM recycling_dropoff d WHERE d.status = 'accepted' GROUP BY 1, 2
    UNION ALL
    SELECT r.station_id, (t.created_at AT TIME ZONE 'Asia/Shanghai')::date, 0, 0, 0, 0, SUM(t.amount), 0
    FROM rewards_redemption r JOIN recycling_transfer t ON t.id = r.transfer_id
    WHERE t.id NOT IN (SELECT reverses_id FROM recycling_transfer WHERE reverses_id IS NOT NULL)
    GROUP BY 1, 2
    UNION ALL
    SELECT n.station_id, (t.created_at AT TIME ZONE 'Asia/Shanghai')::date, 0, 0, 0, 0, 0, SUM(t.amount)
    FROM rewards_donation n JOIN recycling_transfer t ON t.id = n.transfer_id
    WHERE n.station_id IS NOT NULL
    GROUP BY 1, 2
) x
GROUP BY 1, 2
"""
GROUND_TRUTH_CITIES = """
SELECT s.city_id, (d.occurred_at AT TIME ZONE 'Asia/Shanghai')::date, SUM(d.cartons), COUNT(*),
       COUNT(DISTINCT d.member_id), SUM(d.points)
FROM recycling_dropoff d JOIN stations_station s ON s.id = d.station_id
WHERE d.status = 'accepted' GROUP BY 1, 2
"""


def check_totals(report: Report, days: list[date]) -> None:
    from django.db import connection

    from recycling.models import DailyCityTotal, DailyStationTotal

    with connection.cursor() as cursor:
        cursor.execute(GROUND_TRUTH_STATIONS)
        truth = {(r[0], r[1]): tuple(int(v or 0) for v in r[2:]) for r in cursor.fetchall()}
        cursor.execute(GROUND_TRUTH_CITIES)
        city_truth = {(r[0], r[1]): tuple(int(v) for v in r[2:]) for r in cursor.fetchall()}
    figures = ["cartons", "dropoffs", "members", "points_issued", "points_redeemed", "points_donated"]
    stored = {
        (row[0], row[1]): tuple(row[2:])
        for row in DailyStationTotal.objects.filter(day__in=days).values_list("station_id", "day", *figures)
    }
    for key in truth.keys() | stored.keys():
        if truth.get(key, (0,) * 6) != stored.get(key, (0,) * 6):
            report.violation(f"station total {key}: stored {stored.get(key)}, ground truth {truth.get(key)}")
    city_figures = figures[:4]
    city_stored = {
        (row[0], row[1]): tuple(row[2:])
        for row in DailyCityTotal.objects.filter(day__in=days).values_list("city_id", "day", *city_figures)
    }
    for key in city_truth.keys() | city_stored.keys():
        if city_truth.get(key, (0,) * 4) != city_stored.get(key, (0,) * 4):
            report.violation(f"city total {key}: stored {city_stored.get(key)}, ground truth {city_truth.get(key)}")
    report.notes.append(f"daily totals compared: {len(stored)} station-days, {len(city_stored)} city-days")


# --- Server errors ---------------------------------------------------------------------------


def check_server_errors(report: Report, logs: Path) -> None:
    path = logs / "server-errors.jsonl"
    errors = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    causes = Counter()
    for error in errors:
        explained = any(cause in EXPLAINED_CAUSES for cause in error["causes"])
        causes[f"{error.get('status')} {error['exception']}"] += 1
        if not explained:
            report.violation(
                f"server error not explained by a fault: {error['message']}: {error['causes']} {error['detail']}"
            )
    report.notes.append(f"server errors (5xx) by status and exception: {dict(causes) or 'none'}")
