"""An open-loop load for bench_api.py: drop-off POSTs sent at a fixed rate, whatever the answers.

wrk's clients send their next request as soon as the last is answered (a closed loop): that
measures the most the server can do, and at that point every request waits behind the others
in the queue, so the latency it shows is the clients' number divided by the throughput. To know
how fast requests are answered at a given throughput, the requests must come at that rate:
here `devices` station devices each send one POST every `devices / rate` seconds, on the clock,
and each latency counts from the moment its request was due (not from when it could be sent),
so a slow answer that delays the next request is charged to that request too (the "coordinated
omission" that closed-loop tools hide).

    latencies = asyncio.run(paced_posts(port, devices, rate, seconds, body_for))
"""

import asyncio
import json
import time
import uuid
from collections.abc import Callable


async def paced_posts(
    *, port: int, devices: list[tuple[int, str]], rate: float, seconds: float, body_for: Callable[[int], dict]
) -> tuple[list[float], int]:
    """POST /api/v1/dropoffs/ at `rate` per second in all, from one device per (station, token),
    for `seconds`; returns the latencies (s) of the 201 answers and the number of other answers."""
    interval = len(devices) / rate
    start = time.monotonic() + 0.1
    latencies: list[float] = []
    failures = 0

    async def device(n: int, station: int, token: str) -> None:
        nonlocal failures
        due = start + n * interval / len(devices)  # the devices' requests spread evenly
        while due < start + seconds:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            body = json.dumps({"station": station, **body_for(station)})
            status = await _post(port, token, body)
            if status == 201:
                latencies.append(time.monotonic() - due)
            else:
                failures += 1
            due += interval

    await asyncio.gather(*(device(n, station, token) for n, (station, token) in enumerate(devices)))
    return latencies, failures


async def _post(port: int, token: str, body: str) -> int:
    """One POST on a new connection (gunicorn's sync workers close each after its answer); its status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        "POST /api/v1/dropoffs/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Token {token}\r\nIdempotency-Key: {uuid.uuid4().hex}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    writer.write(request.encode() + body.encode())
    await writer.drain()
    status_line = await reader.readline()
    await reader.read()  # the rest, until the server closes
    writer.close()
    return int(status_line.split()[1])
