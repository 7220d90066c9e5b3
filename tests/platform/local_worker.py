"""One worker process for the multi-process test of the local adapters (run with `python -m`).

    python -m tests.platform.local_worker <data-dir> <worker-number> <phase>

phase `write`: dedup keys, high-water marks, secret versions and queue sends, all contended.
phase `consume`: receive and delete until the queue is empty. Prints a JSON result line.
"""

from __future__ import annotations

import asyncio
import json
import sys

from shared.platform.factory import build_local_platform
from shared.settings import load_settings

KEYS = 100
MESSAGES = 100
SECRET_VERSIONS = 20
HWM_TOP = 400


async def write(data_dir: str, worker: int) -> dict[str, object]:
    platform = build_local_platform(load_settings(LOCAL_DATA_DIR=data_dir))
    wins = 0
    for n in range(KEYS):
        wins += await platform.state.put_if_absent(f"key-{n}", {"worker": worker}, 600)
    for value in range(worker, HWM_TOP, 2):
        await platform.state.advance_high_water_mark("hwm", value)
    for n in range(SECRET_VERSIONS):
        await platform.secrets.put_version("token", f"{worker:08d}-0000-4000-8000-{n:012d}", f"w{worker}-{n}")
    for start in range(0, MESSAGES, 10):
        await platform.queue.send("events", [f"w{worker}-m{n}" for n in range(start, start + 10)])
    return {"wins": wins}


async def consume(data_dir: str) -> dict[str, object]:
    platform = build_local_platform(load_settings(LOCAL_DATA_DIR=data_dir))
    bodies: list[str] = []
    while messages := await platform.queue.receive("events", 7, 600):
        for message in messages:
            bodies.append(message.body)
            await platform.queue.delete("events", message)
    return {"bodies": bodies}


def main() -> None:
    data_dir, worker, phase = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    result = asyncio.run(write(data_dir, worker) if phase == "write" else consume(data_dir))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
