import pytest

from recycling.audit import ledger_violations
from recycling.services import record_dropoff
from tests.factories import EarningRuleFactory, MemberFactory, StationStaffFactory


@pytest.mark.django_db
def test_recorded_dropoff_credits_points_and_keeps_ledger_consistent():
    """Three cartons at 10 points each credit 30 points; the audit finds nothing wrong."""
    EarningRuleFactory(points_per_carton=10)
    staff = StationStaffFactory()
    member = MemberFactory()
    result = record_dropoff(
        station=staff.station, member_code=member.code, cartons=3, staff=staff.user, idempotency_key="k1"
    )
    assert result.dropoff.points == 30
    assert result.balance == 30
    member.account.refresh_from_db()
    assert member.account.balance == 30
    assert ledger_violations() == []
