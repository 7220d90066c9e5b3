"""Integration API: run creation shapes, polling to a terminal state, deadline, warnings paging, 204."""

from __future__ import annotations

import json

import httpx
import pytest

from shared.leanix import RunDeadlineExceeded
from shared.leanix.integration import RUNS_PATH

from .conftest import ClientFactory, FakeClock, FakeLeanIX

RUN = "run-42"
STATUS = f"{RUNS_PATH}/{RUN}/status"


def statuses(fake: FakeLeanIX, *values: str) -> list[int]:
    calls = [0]

    @fake.route("GET", STATUS)
    def status(request: httpx.Request) -> httpx.Response:
        value = values[min(calls[0], len(values) - 1)]
        calls[0] += 1
        return httpx.Response(200, json={"id": RUN, "status": value})

    return calls


async def test_wait_until_finished_ends_on_failed(
    fake: FakeLeanIX, clock: FakeClock, make_client: ClientFactory
) -> None:
    calls = statuses(fake, "PENDING", "IN_PROGRESS", "FAILED", "FINISHED")
    async with make_client() as client:
        run = await client.integration.wait_until_finished(
            RUN, deadline_seconds=600, initial_interval=2, max_interval=30
        )
    assert run.status == "FAILED"
    assert calls[0] == 3
    assert clock.sleeps == [2, 4]  # backoff between polls


async def test_wait_until_finished_raises_at_the_deadline_naming_run_and_status(
    fake: FakeLeanIX, clock: FakeClock, make_client: ClientFactory
) -> None:
    statuses(fake, "IN_PROGRESS")
    async with make_client() as client:
        with pytest.raises(RunDeadlineExceeded) as caught:
            await client.integration.wait_until_finished(
                RUN, deadline_seconds=60, initial_interval=5, max_interval=20
            )
    assert caught.value.run_id == RUN
    assert caught.value.last_status == "IN_PROGRESS"
    assert RUN in str(caught.value)
    assert "IN_PROGRESS" in str(caught.value)
    assert sum(clock.sleeps) == pytest.approx(60)
    assert max(clock.sleeps) <= 20


@pytest.mark.parametrize(
    "body",
    [{"id": RUN, "status": "CREATED"}, [{"id": RUN, "status": "CREATED"}]],
    ids=["object", "array"],
)
async def test_create_run_accepts_object_or_array(
    body: object, fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    sent: list[httpx.Request] = []

    @fake.route("POST", RUNS_PATH)
    def create(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=body)

    async with make_client() as client:
        run = await client.integration.create_run({"connectorId": "c"}, start=True)
    assert run.id == RUN
    assert sent[0].url.params["start"] == "true"
    assert sent[0].url.params["test"] == "false"
    assert json.loads(sent[0].content) == {"connectorId": "c"}


async def test_run_results_204_is_none(fake: FakeLeanIX, make_client: ClientFactory) -> None:
    fake.route("GET", f"{RUNS_PATH}/{RUN}/results")(lambda request: httpx.Response(204))
    async with make_client() as client:
        assert await client.integration.run_results(RUN) is None


async def test_warnings_are_paged_by_offset_and_limit(fake: FakeLeanIX, make_client: ClientFactory) -> None:
    warnings = [{"message": f"w{i}"} for i in range(5)]
    offsets: list[str] = []

    @fake.route("GET", f"{RUNS_PATH}/{RUN}/warnings")
    def page(request: httpx.Request) -> httpx.Response:
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        offsets.append(request.url.params["offset"])
        return httpx.Response(200, json=warnings[offset : offset + limit])

    async with make_client() as client:
        got = [w["message"] async for w in client.integration.iter_run_warnings(RUN, page_size=2)]
    assert got == ["w0", "w1", "w2", "w3", "w4"]
    assert offsets == ["0", "2", "4"]
