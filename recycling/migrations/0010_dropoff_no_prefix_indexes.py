"""Drop the drop-off's single-column indexes on station_id and member_id (recycling_dropoff_
station_id_... and recycling_dropoff_member_id_...): the composite indexes dropoff_station_time
(station, occurred_at) and dropoff_member_time (member, occurred_at) lead with the same column.

Checked with EXPLAIN on bench/bench_totals.py's national peak day (800,000 drop-offs, 130,000
stations, 300,000 members), with and without them, for every query that reads drop-offs by
station or member: the member's earning cartons of a day (record_dropoff's cap), a member's
cartons (their figures), a station's drop-offs newest first (the admin desk), and the
foreign-key checks of a PROTECTed delete of a member or a station (WHERE member_id IN ... /
station_id IN ...). Without them each plan uses the composite index at the same cost
(index and index-only scans, e.g. 20.49 vs 20.49); nothing else reads them, and every
drop-off INSERT paid for two more index entries.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("recycling", "0009_drop_record_dropoff_function"),
        ("stations", "0003_station_issuance_account"),
    ]

    operations = [
        migrations.AlterField(
            model_name="dropoff",
            name="member",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="dropoffs",
                to="recycling.member",
                verbose_name="member",
            ),
        ),
        migrations.AlterField(
            model_name="dropoff",
            name="station",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="dropoffs",
                to="stations.station",
                verbose_name="station",
            ),
        ),
    ]
