"""Shared set-up for the events tests: a desk where every business write can happen, and a real
HTTP receiver on loopback that plays a partner's webhook endpoint."""

import base64
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from django.core.cache import cache

from events.models import Event
from events.services import create_endpoint
from tests.factories import (
    DonationCampaignFactory,
    EarningRuleFactory,
    MemberFactory,
    RewardFactory,
    StationManagerFactory,
    StationStockFactory,
)


@dataclass
class Received:
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """What the endpoint got, and what it answers: `status` for every request, or a callable
    `answer(received) -> status` (e.g. 500 for one event only)."""

    url: str = ""
    status: int = 200
    answer: object = None
    received: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received]


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got = Received(headers={k.lower(): v for k, v in self.headers.items()}, body=body)
            with state.lock:
                state.received.append(got)
                status = state.answer(got) if state.answer else state.status
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"receiver failing")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/greenbox"
    yield state
    server.shutdown()
    server.server_close()


def verify_as_a_partner(secret: str, received: Received) -> bool:
    """The Standard Webhooks verification a partner writes from the spec alone: the key is the
    base64 after "whsec_"; the signed content is id.timestamp.body; the header holds
    space-separated "v1,<base64>" signatures, any of which may match."""
    key = base64.b64decode(secret.split("_", 1)[1])
    content = f"{received.headers['webhook-id']}.{received.headers['webhook-timestamp']}.".encode() + received.body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    for signature in received.headers["webhook-signature"].split(" "):
        version, _comma, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


@pytest.fixture
def endpoint(receiver):
    """An endpoint subscribed to every kind, at the receiver."""
    return create_endpoint(name="Partner", url=receiver.url, kinds=list(Event.Kind.values))


@pytest.fixture
def desk(db):
    """A station with its manager, a member with 100 points earned here (one drop-off already
    recorded: its event too), eggs in stock and an open notebook campaign."""
    cache.clear()
    staff = StationManagerFactory()
    member = MemberFactory()
    EarningRuleFactory(city=staff.station.city, points_per_carton=25, daily_carton_cap=50)
    eggs = RewardFactory(name="Four eggs", name_zh="四个鸡蛋", points_cost=20)
    StationStockFactory(station=staff.station, reward=eggs, quantity=10)
    return SimpleNamespace(
        station=staff.station,
        staff=staff.user,
        member=member,
        eggs=eggs,
        campaign=DonationCampaignFactory(points_per_notebook=50),
    )
