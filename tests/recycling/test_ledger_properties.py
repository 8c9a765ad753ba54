"""Property test: any sequence of drop-offs and voids keeps the ledger's invariants.

Each hypothesis example builds its own stations, members and rule inside a transaction
that is rolled back at the end, because pytest fixtures are not reset between examples.
"""

from collections import defaultdict
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger.audit import ledger_violations
from ledger.models import Account, Transfer
from recycling import errors
from recycling.days import shanghai_day
from recycling.models import DropOff
from recycling.services import record_dropoff, void_dropoff
from tests.factories import EarningRuleFactory, MemberFactory, StationStaffFactory
from tests.transactions import Rollback, example_transaction

# A history on fixed dates, recorded through record_dropoff().
pytestmark = pytest.mark.usefixtures("any_past_time")

POINTS_PER_CARTON = 10
DAILY_CAP = 20
MEMBERS = 2
STATIONS = 2
# Times around two Shanghai midnights (16:00 UTC), so that sequences straddle days.
TIMES = [
    datetime(2024, 3, 1, 9, 0, tzinfo=UTC),
    datetime(2024, 3, 1, 15, 59, tzinfo=UTC),  # 23:59 on 1 March in Shanghai
    datetime(2024, 3, 1, 16, 0, tzinfo=UTC),  # 00:00 on 2 March
    datetime(2024, 3, 2, 2, 0, tzinfo=UTC),
    datetime(2024, 3, 2, 15, 59, tzinfo=UTC),
    datetime(2024, 3, 2, 16, 0, tzinfo=UTC),  # 00:00 on 3 March
]

record_op = st.tuples(
    st.just("record"),
    st.integers(0, MEMBERS - 1),  # member
    st.integers(0, STATIONS - 1),  # station
    st.one_of(st.integers(1, 50), st.integers(15, 25)),  # cartons, often near the cap
    st.sampled_from(TIMES),  # occurred_at
)
void_op = st.tuples(st.just("void"), st.integers(0, 10_000))  # index into the drop-offs so far
retry_op = st.tuples(st.just("retry"), st.integers(0, 10_000))  # resend an earlier request
operations = st.lists(st.one_of(record_op, record_op, void_op, retry_op), min_size=1, max_size=25)


@pytest.mark.django_db
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
@example(ops=[("record", 0, 0, 15, TIMES[0]), ("void", 0), ("record", 0, 1, 20, TIMES[1]), ("retry", 0)])
@example(ops=[("record", 0, 0, 20, TIMES[1]), ("record", 0, 0, 20, TIMES[2]), ("record", 1, 0, 5, TIMES[2])])
def test_random_dropoffs_and_voids_keep_the_ledger_consistent(ops):
    """After any sequence of drop-offs, voids and retries: ledger_violations() is empty, each
    member's balance is the sum of points of their accepted drop-offs, each drop-off earned for
    exactly the cartons left under the daily cap at its time, and no member-day exceeds the cap."""
    try:
        with example_transaction():  # the services' durable transactions are savepoints inside it
            _run_example(ops)
            raise Rollback
    except Rollback:
        pass


def _run_example(ops):
    EarningRuleFactory(points_per_carton=POINTS_PER_CARTON, daily_carton_cap=DAILY_CAP)
    staff = [StationStaffFactory() for _ in range(STATIONS)]
    members = [MemberFactory() for _ in range(MEMBERS)]
    requests = []  # (kwargs, drop-off id) of every recorded drop-off, in order
    earned_on_day = defaultdict(int)  # (member index, Shanghai day) -> accepted earning cartons

    for op in ops:
        if op[0] == "record":
            _kind, m, s, cartons, occurred_at = op
            kwargs = {
                "station": staff[s].station,
                "member_code": members[m].code,
                "cartons": cartons,
                "staff": staff[s].user,
                "idempotency_key": f"op-{len(requests)}",
                "occurred_at": occurred_at,
            }
            result = record_dropoff(**kwargs)
            day = (m, shanghai_day(occurred_at))
            expected_earning = max(0, min(cartons, DAILY_CAP - earned_on_day[day]))
            assert result.replayed is False
            assert result.dropoff.earning_cartons == expected_earning
            assert result.dropoff.points == expected_earning * POINTS_PER_CARTON
            earned_on_day[day] += expected_earning
            requests.append((kwargs, result.dropoff.pk, day))
        elif op[0] == "void" and requests:
            _kwargs, dropoff_id, day = requests[op[1] % len(requests)]
            dropoff = DropOff.objects.get(pk=dropoff_id)
            staff_user = next(s.user for s in staff if s.station_id == dropoff.station_id)
            if dropoff.status == DropOff.Status.VOIDED:
                with pytest.raises(errors.AlreadyVoided):
                    void_dropoff(dropoff_id=dropoff_id, staff=staff_user, reason="property test")
            else:
                void_dropoff(dropoff_id=dropoff_id, staff=staff_user, reason="property test")
                earned_on_day[day] -= dropoff.earning_cartons
        elif op[0] == "retry" and requests:
            kwargs, dropoff_id, _day = requests[op[1] % len(requests)]
            transfers = Transfer.objects.count()
            result = record_dropoff(**kwargs)
            assert result.replayed is True
            assert result.dropoff.pk == dropoff_id
            assert Transfer.objects.count() == transfers

    assert ledger_violations() == []
    for member in members:
        accepted = DropOff.objects.filter(member=member, status=DropOff.Status.ACCEPTED)
        assert Account.objects.get(member=member).balance == sum(d.points for d in accepted)
    for (m, day), cartons in earned_on_day.items():
        accepted = [
            d
            for d in DropOff.objects.filter(member=members[m], status=DropOff.Status.ACCEPTED)
            if shanghai_day(d.occurred_at) == day
        ]
        assert sum(d.earning_cartons for d in accepted) == cartons <= DAILY_CAP
