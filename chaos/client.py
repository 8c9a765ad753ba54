"""A chaos client: one process sending random writes through the HTTP API until told to stop.

Standard library only (it never touches the database). Every write carries an Idempotency-Key;
a connection error, a timeout, a 5xx, a 429 or a 409 "idempotency_request_in_progress" is
retried with the same key and body, with exponential backoff, at most MAX_ATTEMPTS times. Any
other answer ends the operation: 2xx is acknowledged, 4xx is a refusal (also an outcome the
server vouches for). An operation that never got such an answer is unacknowledged: it may or
may not have happened, but at most once.

One JSON line per operation goes to the client's log (what was sent, every attempt's status
or error, the outcome and the answer); chaos/checks.py reads them back.
"""

import http.client
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

MAX_ATTEMPTS = 10
REQUEST_TIMEOUT = 10.0
RETRY_CODES = {"idempotency_request_in_progress"}
# Each operation's kind, and its weight in the random mix.
MIX = {"dropoff": 34, "batch": 8, "reserve": 20, "cancel": 9, "collect": 12, "donate": 9, "void": 8}
# Refusals an operation may legitimately get; any other 4xx is an unexpected answer (a violation).
EXPECTED_REFUSALS = {
    "dropoff": set(),
    "batch": set(),
    "reserve": {"insufficient_points", "out_of_stock", "daily_limit_reached"},
    "cancel": set(),
    "collect": set(),
    "donate": {"insufficient_points"},
    "void": {"insufficient_points"},  # the member already spent the points
}


class Client:
    def __init__(self, *, number: int, port: int, data: dict, seed: int, log_path: str, stop, stop_deadline):
        self.number = number
        self.port = port
        self.stations = data["stations"]
        self.rewards = data["rewards"]
        self.campaign = data["campaign"]
        self.staff = data["clients"][number]["staff"]
        self.members = data["clients"][number]["members"]
        self.rng = random.Random(seed * 1000 + number)
        self.log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 (closed in run())
        self.stop = stop
        self.stop_deadline = stop_deadline  # shared value: after it, give up retrying (unacknowledged)
        self.sequence = 0
        self.dropoffs: list[dict] = []  # acknowledged drop-offs not yet voided: {id, station}
        self.reservations: list[dict] = []  # acknowledged reservations still open: {id, member, station, code}

    # --- the loop --------------------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                kind = self.rng.choices(list(MIX), weights=list(MIX.values()))[0]
                getattr(self, kind)()
        finally:
            self.log.close()

    def key(self) -> str:
        self.sequence += 1
        return f"c{self.number}-{self.sequence}-{uuid.uuid4().hex[:12]}"

    def station_staff(self, station: int | None = None) -> tuple[int, dict]:
        station = station or self.rng.choice(self.stations)
        return station, self.staff[str(station)]

    def occurred_at(self) -> str | None:
        """Mostly now (None); sometimes a late drop-off of yesterday or the day before."""
        days = self.rng.choice([0, 0, 0, 0, 1, 2])
        if not days:
            return None
        moment = datetime.now(UTC) - timedelta(days=days, minutes=self.rng.randint(0, 600))
        return moment.isoformat()

    # --- operations ------------------------------------------------------------------------

    def dropoff(self) -> None:
        station, staff = self.station_staff()
        body = {"station": station, "member_code": self.rng.choice(self.members)["code"]}
        body["cartons"] = self.rng.randint(1, 20)
        if (at := self.occurred_at()) is not None:
            body["occurred_at"] = at
        op = self.send("dropoff", "/api/v1/dropoffs/", body, staff)
        if op["outcome"] == "acked":
            self.dropoffs.append({"id": op["response"]["id"], "station": station})

    def batch(self, items: list[dict] | None = None, station: int | None = None, resend_of: str | None = None) -> None:
        station, staff = self.station_staff(station)
        if items is None:
            items = []
            for _ in range(self.rng.randint(2, 12)):
                item = {"idempotency_key": self.key(), "member_code": self.rng.choice(self.members)["code"]}
                item["cartons"] = self.rng.randint(1, 20)
                if (at := self.occurred_at()) is not None:
                    item["occurred_at"] = at
                items.append(item)
        op = self.send("batch", "/api/v1/dropoffs/batch/", {"station": station, "items": items}, staff, resend_of)
        if op["outcome"] != "acked":
            return
        again = []
        for item, result in zip(items, op["response"]["results"], strict=True):
            if result["result"] in ("created", "replayed"):
                self.dropoffs.append({"id": result["dropoff"]["id"], "station": station})
            elif result["error"]["code"] == "retry":  # a database error on this item: send it again
                again.append(item)
        if again and not self.stop.is_set():
            time.sleep(0.5)
            self.batch(again, station, resend_of=op["key"])

    def reserve(self) -> None:
        member = self.rng.randrange(len(self.members))
        station = self.rng.choice(self.stations)
        body = {"reward": self.rng.choice(self.rewards), "station": station, "quantity": self.rng.randint(1, 2)}
        op = self.send("reserve", "/api/v1/redemptions/", body, self.members[member])
        if op["outcome"] == "acked":
            answer = op["response"]
            self.reservations.append(
                {"id": answer["id"], "member": member, "station": station, "code": answer["pickup_code"]}
            )

    def cancel(self) -> None:
        if not self.reservations:
            return self.reserve()
        reservation = self.reservations.pop(self.rng.randrange(len(self.reservations)))
        path = f"/api/v1/redemptions/{reservation['id']}/cancel/"
        self.send("cancel", path, {}, self.members[reservation["member"]], target=reservation["id"])

    def collect(self) -> None:
        if not self.reservations:
            return self.reserve()
        reservation = self.reservations.pop(self.rng.randrange(len(self.reservations)))
        _station, staff = self.station_staff(reservation["station"])
        body = {"station": reservation["station"], "pickup_code": reservation["code"]}
        self.send("collect", "/api/v1/redemptions/collect/", body, staff, target=reservation["id"])

    def donate(self) -> None:
        body = {"campaign": self.campaign, "notebooks": self.rng.randint(1, 2)}
        self.send("donate", "/api/v1/donations/", body, self.rng.choice(self.members))

    def void(self) -> None:
        if not self.dropoffs:
            return self.dropoff()
        dropoff = self.dropoffs.pop(self.rng.randrange(len(self.dropoffs)))
        _station, staff = self.station_staff(dropoff["station"])
        path = f"/api/v1/dropoffs/{dropoff['id']}/void/"
        self.send("void", path, {"reason": "chaos: logged in error"}, staff, target=dropoff["id"])

    # --- HTTP with retries -----------------------------------------------------------------

    def send(self, kind: str, path: str, body: dict, who: dict, resend_of: str | None = None, target=None) -> dict:
        key = self.key()
        op = {"client": self.number, "op": kind, "key": key, "user": who["user"], "path": path, "body": body}
        if resend_of:
            op["resend_of"] = resend_of
        if target is not None:
            op["target"] = target
        op |= {"started": time.time(), "attempts": [], "outcome": "unacked", "status": None, "response": None}
        payload = json.dumps(body)
        headers = {"Authorization": f"Token {who['token']}", "Content-Type": "application/json", "Idempotency-Key": key}
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                if self.stop.is_set() and time.time() > self.stop_deadline.value:
                    break
                time.sleep(min(4.0, 0.25 * 2 ** (attempt - 1)) * self.rng.uniform(0.5, 1.5))
            status, answer, error = self.post(path, payload, headers)
            code = answer.get("error", {}).get("code") if isinstance(answer, dict) else None
            op["attempts"].append({"t": round(time.time(), 3), "status": status, "code": code, "error": error})
            if status is None or status >= 500 or status == 429:
                continue
            if status == 409 and code in RETRY_CODES:
                continue
            op |= {"status": status, "response": answer, "outcome": "acked" if status < 300 else "refused"}
            if status >= 400:
                op["code"] = code
                op["expected"] = code in EXPECTED_REFUSALS[kind]
            break
        op["finished"] = time.time()
        self.log.write(json.dumps(op, ensure_ascii=False) + "\n")
        self.log.flush()
        return op

    def post(self, path: str, payload: str, headers: dict) -> tuple[int | None, object, str | None]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            connection.request("POST", path, payload, headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as error:
            return None, None, f"{type(error).__name__}: {error}"[:200]
        finally:
            connection.close()
        try:
            return response.status, json.loads(raw), None
        except ValueError:
            return response.status, raw[:200].decode("utf-8", "replace"), None


def run_client(number: int, port: int, data: dict, seed: int, log_path: str, stop, stop_deadline) -> None:
    """multiprocessing target."""
    Client(
        number=number, port=port, data=data, seed=seed, log_path=log_path, stop=stop, stop_deadline=stop_deadline
    ).run()
