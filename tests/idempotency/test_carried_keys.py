"""The old mechanisms' keys of recent writes are carried into the one table by the migrations that
drop them (recycling 0011, rewards 0003), on the previous release's database
(tests/fixtures/release_575ec8b.sql.gz, tests/ledger/test_migrations.py).

Its service-made drop-offs and reward requests are dated to an hour or two ago first, so that they
are within the retention period whenever the test runs; the simulated ones stay in 2021, past it.
"""

import json

from idempotency.services import member_scope, request_fingerprint, station_scope
from tests.ledger.test_migrations import _manage, _rows, release_database  # noqa: F401 (a fixture)

# svc-1 as if sent without a time (the old write stamped both times with its own now); the
# others with the time they happened, an hour before they were recorded.
RECENT_DROPOFFS = """
UPDATE recycling_dropoff SET recorded_at = now() - interval '1 hour',
    occurred_at = now() - interval '1 hour' - CASE WHEN idempotency_key = 'svc-1' THEN interval '0' ELSE
        interval '1 hour' END
WHERE idempotency_key LIKE 'svc-%' RETURNING 1
"""
RECENT_REQUESTS = (
    "UPDATE rewards_rewardrequest SET created_at = now() - interval '1 hour' WHERE key NOT LIKE 'sim-%' RETURNING 1"
)
DROPOFFS = """
SELECT d.id, d.station_id, d.idempotency_key, m.code, d.cartons, d.occurred_at, d.recorded_at
FROM recycling_dropoff d JOIN recycling_member m ON m.id = d.member_id
WHERE d.idempotency_key LIKE 'svc-%' ORDER BY d.id
"""
REQUESTS = """
SELECT key, operation, member_id, fingerprint, redemption_id, donation_id, error_code
FROM rewards_rewardrequest WHERE key NOT LIKE 'sim-%' ORDER BY id
"""
CARRIED = "SELECT scope, key, operation, fingerprint, result, refusal_code FROM idempotency_idempotencykey"


def test_recent_keys_are_carried_with_their_requests_and_outcomes(release_database):  # noqa: F811
    _rows(release_database, RECENT_DROPOFFS)
    _rows(release_database, RECENT_REQUESTS)
    dropoffs, requests = _rows(release_database, DROPOFFS), _rows(release_database, REQUESTS)
    assert dropoffs and requests

    migrated = _manage(release_database, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr

    carried = {
        (scope, key): (operation, fingerprint, json.loads(result) if isinstance(result, str) else result, refusal)
        for scope, key, operation, fingerprint, result, refusal in _rows(release_database, CARRIED)
    }
    for dropoff_id, station_id, key, member_code, cartons, occurred_at, recorded_at in dropoffs:
        operation, fingerprint, result, _refusal = carried[(station_scope(station_id), key)]
        assert (operation, result["dropoff"]) == ("dropoff", dropoff_id)
        assert (occurred_at == recorded_at) == (key == "svc-1")
        sent_time = None if key == "svc-1" else occurred_at
        assert fingerprint == request_fingerprint(member_code=member_code, cartons=cartons, occurred_at=sent_time)
    for key, operation, member_id, old_fingerprint, redemption_id, donation_id, error_code in requests:
        carried_operation, fingerprint, result, refusal = carried[(member_scope(member_id), key)]
        parameters = {name: int(value) for name, value in (part.split("=") for part in old_fingerprint.split(";"))}
        assert carried_operation == operation
        assert fingerprint == request_fingerprint(**parameters)
        if error_code:
            assert (result, refusal) == (None, error_code)
        else:
            assert (result.get("redemption"), result.get("donation")) == (redemption_id, donation_id)
    assert not [key for _scope, key in carried if key.startswith("sim-")]  # 2021: past the retention
