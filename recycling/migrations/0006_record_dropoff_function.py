"""recycling_record_dropoff(): record_dropoff()'s reads and writes as one PostgreSQL function.

On PostgreSQL, recycling.services.record_dropoff() checks the request itself (key, cartons,
time) and then makes one call to this function, which does what the ORM path does in about a
dozen statements: the station and whether the staff user works there, the replay of a known
key, the member, the earning rule and emission factor in force, the lock on both accounts (in
primary-key order), the member's capped cartons that day, the drop-off, its earning transfer,
both balances, the carton inventory and the member's home station. One round trip and plans
that PL/pgSQL prepares once per connection: the API's drop-off POSTs and batches depend on it.

It returns a result code and writes nothing unless the code is 'created'. A concurrent request
that commits the same key first makes the INSERT do nothing; the function then answers as for
a replay. It never commits: called in autocommit it is its own transaction, inside
transaction.atomic() it joins the caller's.

The ORM path (any other database) is the reference; tests/recycling/test_services.py runs every
record_dropoff test through both on PostgreSQL. Change both together, in a new migration that
replaces this function.
"""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION recycling_record_dropoff(
    p_station_id bigint,
    p_member_code text,  -- as record_dropoff() normalized it (stripped, upper case)
    p_cartons integer,
    p_staff_id bigint,
    p_staff_is_superuser boolean,
    p_idempotency_key text,
    p_occurred_at timestamptz,
    p_day date,  -- the Shanghai day of p_occurred_at (the emission factor's), and its [start, end) for the cap
    p_day_start timestamptz,
    p_day_end timestamptz,
    p_now timestamptz,
    OUT out_result text,  -- created, replayed or the code of a refusal
    OUT out_dropoff_id bigint,
    OUT out_station_code text,
    OUT out_member_id bigint,
    OUT out_member_mobile text,
    OUT out_earning_cartons integer,
    OUT out_points integer,
    OUT out_rule_id bigint,
    OUT out_emission_factor_id bigint,
    OUT out_balance bigint  -- the member's balance afterwards
) LANGUAGE plpgsql AS $$
DECLARE
    v_station record;
    v_earlier record;
    v_member record;
    v_rule record;
    v_issuer_id bigint;
    v_already bigint;
BEGIN
    SELECT s.id, s.code, s.city_id, s.is_active,
           p_staff_is_superuser OR EXISTS (
               SELECT 1 FROM stations_stationstaff ss WHERE ss.station_id = s.id AND ss.user_id = p_staff_id
           ) AS staff_works_here
      INTO v_station
      FROM stations_station s
     WHERE s.id = p_station_id;
    IF NOT FOUND THEN
        out_result := 'unknown_station';
        RETURN;
    END IF;
    IF NOT v_station.staff_works_here THEN
        out_result := 'not_station_staff';
        RETURN;
    END IF;
    out_station_code := v_station.code;

    LOOP  -- twice at most: again after a concurrent request took the key, to answer as a replay
        SELECT d.id, d.station_id, d.cartons, m.code AS member_code, a.balance
          INTO v_earlier
          FROM recycling_dropoff d
          JOIN recycling_member m ON m.id = d.member_id
          JOIN recycling_account a ON a.member_id = m.id
         WHERE d.idempotency_key = p_idempotency_key;
        IF FOUND THEN
            IF v_earlier.station_id = p_station_id AND v_earlier.member_code = p_member_code
               AND v_earlier.cartons = p_cartons THEN
                out_result := 'replayed';
                out_dropoff_id := v_earlier.id;
                out_balance := v_earlier.balance;
            ELSE
                out_result := 'idempotency_key_reused';
            END IF;
            RETURN;
        END IF;

        SELECT m.id, m.mobile, m.home_station_id, a.id AS account_id
          INTO v_member
          FROM recycling_member m
          JOIN recycling_account a ON a.member_id = m.id
         WHERE m.code = p_member_code;
        IF NOT FOUND THEN
            out_result := 'unknown_member';
            RETURN;
        END IF;
        IF NOT v_station.is_active THEN
            out_result := 'station_inactive';
            RETURN;
        END IF;
        -- The city's own rule beats a national one, then the latest start wins.
        SELECT r.id, r.points_per_carton, r.daily_carton_cap
          INTO v_rule
          FROM recycling_earningrule r
         WHERE (r.city_id = v_station.city_id OR r.city_id IS NULL)
           AND r.valid_from <= p_occurred_at
           AND (r.valid_to IS NULL OR r.valid_to > p_occurred_at)
         ORDER BY r.city_id ASC NULLS LAST, r.valid_from DESC
         LIMIT 1;
        IF NOT FOUND THEN
            out_result := 'no_earning_rule';
            RETURN;
        END IF;
        out_rule_id := v_rule.id;
        SELECT f.id
          INTO out_emission_factor_id
          FROM recycling_emissionfactor f
         WHERE f.valid_from <= p_day
         ORDER BY f.valid_from DESC
         LIMIT 1;
        IF out_emission_factor_id IS NULL THEN
            out_result := 'no_emission_factor';
            RETURN;
        END IF;

        -- Lock order (recycling/ledger.py): both accounts by primary key. The member's lock
        -- serializes their drop-offs, so the day's count below is exact.
        PERFORM 1
           FROM recycling_account a
          WHERE a.id = v_member.account_id OR (a.kind = 'issuance' AND a.station_id = p_station_id)
          ORDER BY a.id
            FOR UPDATE;
        SELECT a.id INTO v_issuer_id FROM recycling_account a WHERE a.kind = 'issuance' AND a.station_id = p_station_id;
        IF v_issuer_id IS NULL THEN
            -- The station's first drop-off: its issuance account, after the member's lock (a new
            -- id is above the member's, so primary-key order holds). A concurrent first drop-off
            -- waits on the unique station, then finds the row.
            INSERT INTO recycling_account (kind, member_id, station_id, name, balance, created_at)
            VALUES ('issuance', NULL, p_station_id, '', 0, p_now)
            ON CONFLICT DO NOTHING;
            SELECT a.id INTO v_issuer_id
              FROM recycling_account a
             WHERE a.kind = 'issuance' AND a.station_id = p_station_id
               FOR UPDATE;
        END IF;

        SELECT coalesce(sum(d.earning_cartons), 0)
          INTO v_already
          FROM recycling_dropoff d
         WHERE d.member_id = v_member.id AND d.status = 'accepted'
           AND d.occurred_at >= p_day_start AND d.occurred_at < p_day_end;
        out_earning_cartons := greatest(0, least(p_cartons, v_rule.daily_carton_cap - v_already));
        out_points := out_earning_cartons * v_rule.points_per_carton;

        INSERT INTO recycling_dropoff (
            station_id, member_id, cartons, earning_cartons, points, rule_id, emission_factor_id, logged_by_id,
            occurred_at, recorded_at, idempotency_key, status, void_reason, voided_by_id, voided_at
        ) VALUES (
            p_station_id, v_member.id, p_cartons, out_earning_cartons, out_points, v_rule.id, out_emission_factor_id,
            p_staff_id, p_occurred_at, p_now, p_idempotency_key, 'accepted', '', NULL, NULL
        )
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id INTO out_dropoff_id;
        EXIT WHEN out_dropoff_id IS NOT NULL;
    END LOOP;

    IF out_points > 0 THEN
        INSERT INTO recycling_transfer (
            debit_account_id, credit_account_id, amount, kind, idempotency_key, created_at, dropoff_id, station_id,
            reverses_id
        ) VALUES (
            v_issuer_id, v_member.account_id, out_points, 'earning', 'dropoff:' || out_dropoff_id || ':earning', p_now,
            out_dropoff_id, p_station_id, NULL
        );
        UPDATE recycling_account SET balance = balance - out_points WHERE id = v_issuer_id;
    END IF;
    UPDATE recycling_account SET balance = balance + out_points WHERE id = v_member.account_id
    RETURNING balance INTO out_balance;
    UPDATE recycling_cartoninventory SET on_hand = on_hand + p_cartons WHERE station_id = p_station_id;
    IF NOT FOUND THEN
        INSERT INTO recycling_cartoninventory (station_id, on_hand) VALUES (p_station_id, p_cartons);
    END IF;
    IF v_member.home_station_id IS NULL THEN
        UPDATE recycling_member SET home_station_id = p_station_id WHERE id = v_member.id AND home_station_id IS NULL;
    END IF;
    out_member_id := v_member.id;
    out_member_mobile := v_member.mobile;
    out_result := 'created';
END;
$$;
"""
POSTGRES_BACKWARD = """
DROP FUNCTION IF EXISTS recycling_record_dropoff(
    bigint, text, integer, bigint, boolean, text, timestamptz, date, timestamptz, timestamptz, timestamptz
);
"""


def forward(apps, schema_editor):
    schema_editor.execute(POSTGRES_FORWARD, params=None)  # no placeholders: '%' in the SQL is literal


def backward(apps, schema_editor):
    schema_editor.execute(POSTGRES_BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("recycling", "0005_campaign_station_totals")]

    operations = [migrations.RunPython(forward, backward)]
