"""A small local host for the Azure app: serves its HTTP routes and fires its timers.

The wiring comes from `function_app.app.get_functions()`, the same metadata the Azure Functions host
indexes, so what runs here is what Azure runs: routes under `/api/`, `%SETTING%` schedules resolved from
the same settings. Function keys are not enforced locally (as with Core Tools); every function's own
secret checks still apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import uvicorn
from azure.functions.timer import TimerRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.ncrontab import Schedule, parse_schedule
from shared.logging import get_logger, invocation, log_context
from shared.platform import Queue, build_platform
from shared.settings import PlatformName, Settings, get_settings

logger = get_logger("local.host")

AnyFunction = Callable[..., Any]
QUEUE_VISIBILITY_SECONDS = 30.0


@dataclass(frozen=True)
class HttpFunction:
    name: str
    route: str
    methods: tuple[str, ...]
    auth_level: str
    arg_name: str
    fn: AnyFunction


@dataclass(frozen=True)
class TimerFunction:
    name: str
    schedule_expression: str
    arg_name: str
    fn: AnyFunction


@dataclass(frozen=True)
class QueueFunction:
    name: str
    queue_name: str
    arg_name: str
    fn: AnyFunction


@dataclass
class Wiring:
    http: list[HttpFunction] = field(default_factory=list)
    timers: list[TimerFunction] = field(default_factory=list)
    queues: list[QueueFunction] = field(default_factory=list)

    def find(self, name: str) -> HttpFunction | TimerFunction | QueueFunction:
        for item in (*self.http, *self.timers, *self.queues):
            if item.name == name:
                return item
        known = ", ".join(sorted(i.name for i in (*self.http, *self.timers, *self.queues)))
        raise KeyError(f"no function named {name!r}; the app has: {known}")


def _enum_value(value: Any) -> str:
    return str(getattr(value, "value", value))


def discover(app: func.FunctionApp) -> Wiring:
    """Read the app's functions the way the Azure host does (`get_functions()` may run once per app)."""
    wiring = Wiring()
    # get_functions() validates name uniqueness against state left by a previous call: reset it so the
    # wiring can be read more than once per process (tests, the demo, the host).
    app.functions_bindings = None
    for function in app.get_functions():
        trigger = function.get_trigger()
        name = function.get_function_name()
        fn = function.get_user_function()
        kind = type(trigger).__name__
        if kind == "HttpTrigger":
            methods = tuple(_enum_value(m) for m in (trigger.methods or ["GET", "POST"]))
            wiring.http.append(
                HttpFunction(
                    name,
                    trigger.route or name,
                    methods,
                    _enum_value(trigger.auth_level).upper(),
                    trigger.name,
                    fn,
                )
            )
        elif kind == "TimerTrigger":
            wiring.timers.append(TimerFunction(name, trigger.schedule, trigger.name, fn))
        elif kind == "QueueTrigger":
            # Queue names may be `%SETTING%` expressions, resolved like schedules.
            queue_name = resolve_app_setting(trigger.queue_name)
            wiring.queues.append(QueueFunction(name, queue_name, trigger.name, fn))
    return wiring


def resolve_app_setting(expression: str, settings: Settings | None = None) -> str:
    """Resolve `%NAME%` like the Azure host: the environment first, then the settings' default."""
    if not (expression.startswith("%") and expression.endswith("%")):
        return expression
    name = expression.strip("%")
    if name in os.environ:
        return os.environ[name]
    model = settings or Settings()
    for field_name, info in type(model).model_fields.items():
        if info.alias == name:
            return str(getattr(model, field_name))
    raise KeyError(f"app setting {name} is not set and has no default in shared/settings.py")


async def call_function(fn: AnyFunction, **kwargs: Any) -> Any:
    """Call a user function as the worker would: await coroutines, run sync functions in a thread."""
    if inspect.iscoroutinefunction(fn):
        return await fn(**kwargs)
    result = await asyncio.to_thread(fn, **kwargs)
    if inspect.isawaitable(result):
        return await result
    return result


def _to_starlette(response: Any) -> Response:
    if response is None:
        return Response(status_code=204)
    if not isinstance(response, func.HttpResponse):
        raise TypeError(f"HTTP function returned {type(response).__name__}, expected func.HttpResponse")
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(
        content=response.get_body(),
        status_code=response.status_code,
        headers=headers,
        media_type=response.mimetype,
    )


def _http_endpoint(function: HttpFunction) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        body = await request.body()
        req = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=dict(request.headers),
            params=dict(request.query_params),
            route_params={k: str(v) for k, v in request.path_params.items()},
            body=body,
        )
        with invocation():
            try:
                result = await call_function(function.fn, **{function.arg_name: req})
            except Exception:
                # The Azure host answers 500 for an unhandled exception; so do we, without details.
                logger.exception("function failed", extra=log_context(function=function.name))
                return JSONResponse({"error": "internal error"}, status_code=500)
        return _to_starlette(result)

    return endpoint


async def run_timer(function: TimerFunction, past_due: bool = False) -> Any:
    """Fire one timer function once, as the host does when its schedule comes due."""
    with invocation():
        return await call_function(function.fn, **{function.arg_name: TimerRequest(past_due=past_due)})


async def process_queue_once(function: QueueFunction, queue: Queue, max_messages: int = 16) -> dict[str, int]:
    """Receive visible messages of the function's queue and run the function on each, as the host does.

    Success deletes the message; an exception releases it, so it is retried and, past the maximum
    number of attempts, dead-lettered by the queue port with its body intact.
    """
    counts = {"processed": 0, "failed": 0}
    for message in await queue.receive(function.queue_name, max_messages, QUEUE_VISIBILITY_SECONDS):
        # azure-functions 1.26's QueueMessage takes no dequeue count (the host sets it internally).
        azure_message = func.QueueMessage(
            id=message.id, body=message.body.encode(), pop_receipt=message.receipt
        )
        with invocation():
            try:
                await call_function(function.fn, **{function.arg_name: azure_message})
            except Exception:
                logger.exception("queue function failed", extra=log_context(function=function.name))
                await queue.release(function.queue_name, message)
                counts["failed"] += 1
                continue
        await queue.delete(function.queue_name, message)
        counts["processed"] += 1
    return counts


class QueuePump:
    """Polls the local queue of every queue-triggered function, like the Azure host's queue listener."""

    def __init__(self, functions: list[QueueFunction], queue: Queue, poll_seconds: float = 0.1) -> None:
        self._functions = functions
        self._queue = queue
        self._poll_seconds = poll_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._functions:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            busy = False
            for function in self._functions:
                try:
                    counts = await process_queue_once(function, self._queue)
                except Exception:
                    logger.exception("queue poll failed", extra=log_context(queue=function.queue_name))
                    counts = {"processed": 0, "failed": 0}
                busy = busy or any(counts.values())
            if not busy:
                await asyncio.sleep(self._poll_seconds)


class TimerScheduler:
    """Fires every timer function on its NCRONTAB schedule until stopped."""

    def __init__(
        self,
        timers: list[TimerFunction],
        settings: Settings | None = None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._jobs: list[tuple[TimerFunction, Schedule]] = [
            (timer, parse_schedule(resolve_app_setting(timer.schedule_expression, settings)))
            for timer in timers
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self._now = now
        self._sleep = sleep

    def start(self) -> None:
        self._tasks = [asyncio.get_running_loop().create_task(self._loop(t, s)) for t, s in self._jobs]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self, timer: TimerFunction, schedule: Schedule) -> None:
        last_due: datetime | None = None
        while True:
            now = self._now()
            # The sleep runs on the monotonic clock; the wall clock may still read a moment before
            # the last due time when it ends. Never schedule before it, so a due time fires once.
            due = schedule.next_after(now if last_due is None else max(now, last_due))
            await self._sleep(max(0.0, (due - now).total_seconds()))
            last_due = due
            try:
                await run_timer(timer)
            except Exception:
                logger.exception("timer function failed", extra=log_context(function=timer.name))


def build_host_app(
    app: func.FunctionApp, *, timers: bool = True, queues: bool = True, settings: Settings | None = None
) -> Starlette:
    """A Starlette app serving the function app's HTTP routes under `/api/`, firing its timers and
    running its queue functions on the local queue (PLATFORM=local only; the clouds have their own)."""
    wiring = discover(app)
    effective = settings or get_settings()
    routes = [
        Route(f"/api/{fn.route.lstrip('/')}", _http_endpoint(fn), methods=list(fn.methods), name=fn.name)
        for fn in wiring.http
    ]
    scheduler = TimerScheduler(wiring.timers, effective) if timers else None
    pump = None
    if queues and effective.platform is PlatformName.LOCAL:
        pump = QueuePump(wiring.queues, build_platform(effective).queue)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> Any:
        for worker in (scheduler, pump):
            if worker:
                worker.start()
        try:
            yield
        finally:
            for worker in (scheduler, pump):
                if worker:
                    await worker.stop()

    host = Starlette(routes=routes, lifespan=lifespan)
    host.state.wiring = wiring
    return host


@dataclass
class RunningHost:
    base_url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_host_in_thread(app: Starlette, host: str = "127.0.0.1", port: int = 0) -> RunningHost:
    """Serve `app` with uvicorn in a daemon thread; returns once it listens."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="local-host", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the local host did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return RunningHost(f"http://{host}:{bound}", server, thread)


def serve(host: str, port: int, timers: bool = True) -> None:
    """`python -m functions serve`: serve the app until interrupted, after printing one ready line."""
    from function_app import app

    running = start_host_in_thread(build_host_app(app, timers=timers), host, port)
    print(json.dumps({"ready": True, "base_url": running.base_url}), flush=True)
    try:
        running.thread.join()
    except KeyboardInterrupt:
        running.stop()
