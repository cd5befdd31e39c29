"""Admin routes under ``/_emulator`` (no auth): faults, latency, sandbox drops, counters.

They serve tests that drive an emulator running in another process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from langchain_daytona_exec.emulator._faults import Fault, Faults
from langchain_daytona_exec.emulator._http import error, json_body
from langchain_daytona_exec.emulator._state import EmuSandbox, Registry

__all__ = ["routes"]

Endpoint = Callable[[Request], Awaitable[Response]]


def routes(registry: Registry, faults: Faults) -> list[BaseRoute]:
    """The admin routes, mounted under ``/_emulator``."""

    async def add_fault(request: Request) -> Response:
        body = await json_body(request)
        if "latency_s" in body:
            faults.latency_s = float(body["latency_s"])
        if "status" in body:
            faults.add(Fault.from_json(body))
        return JSONResponse({"ok": True})

    async def clear_faults(request: Request) -> Response:
        faults.clear()
        return JSONResponse({"ok": True})

    def on_sandbox(action: Callable[[EmuSandbox], object]) -> Endpoint:
        """A route that runs ``action`` on the sandbox named in the path (404 if none)."""

        async def endpoint(request: Request) -> Response:
            sb = registry.get(request.path_params["sid"])
            if sb is None:
                return error(404, "sandbox not found")
            await run_in_threadpool(action, sb)
            return JSONResponse({"ok": True})

        return endpoint

    async def stats(request: Request) -> Response:
        snapshot = faults.snapshot()
        snapshot["sandboxes"] = registry.count()
        return JSONResponse(snapshot)

    async def reset_stats(request: Request) -> Response:
        faults.reset_counters()
        return JSONResponse({"ok": True})

    return [
        Route("/faults", add_fault, methods=["POST"]),
        Route("/faults", clear_faults, methods=["DELETE"]),
        Route("/sandbox/{sid}/drop", on_sandbox(registry.delete), methods=["POST"]),
        Route("/sandbox/{sid}/stop", on_sandbox(registry.stop), methods=["POST"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/stats/reset", reset_stats, methods=["POST"]),
    ]
