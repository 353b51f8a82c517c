"""Running the server: listeners (TLS or not), the drain on SIGTERM, log rotation on SIGHUP."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys

import uvloop
from aiohttp import web

from config.settings import ListenerSettings, Settings
from server.app import Service
from server.core import Core
from server.dev import prepare_dev_core
from server.startup import harden_process
from server.worker_processes import run_workers

SHUTDOWN_GRACE = 30.0  # seconds for in-flight requests after SIGTERM
# After the drain, what aiohttp itself still grants a handler before cancelling it.
HANDLER_GRACE = 1.0
log = logging.getLogger("strongroom")
LOG_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO,
              "warn": logging.WARNING, "error": logging.ERROR}


def _ssl_context(listener: ListenerSettings) -> ssl.SSLContext | None:
    if listener.tls_disable:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_3 if listener.tls_min_version == "tls13" else ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(listener.tls_cert_file, listener.tls_key_file)
    return context


def _address(listener: ListenerSettings) -> str:
    scheme = "http" if listener.tls_disable else "https"
    host = f"[{listener.host}]" if ":" in listener.host else listener.host
    return f"{scheme}://{host}:{listener.port}"


def make_runner(service: Service) -> web.ServerRunner:
    """The runner production uses: the service's low-level server, no signal handling of
    aiohttp's own (serve() installs strongroom's)."""
    return web.ServerRunner(service.server(), shutdown_timeout=HANDLER_GRACE, handle_signals=False)


async def _run(settings: Settings, on_ready, role=None) -> None:
    """Serve every listener until SIGTERM/SIGINT; then stop listening, drain in-flight
    requests and seal. A second signal cuts the drain short. With worker processes (role),
    the primary first tells its followers to stop and waits for them: while they drain they
    may still forward requests to it."""
    service = Service(settings, on_ready if role is None or role.index == 0 else None, role)
    core = await service.open()
    runner = make_runner(service)
    try:
        await runner.setup()
        sites = []
        for listener in settings.listeners:
            site = web.TCPSite(runner, listener.host, listener.port, ssl_context=_ssl_context(listener),
                               reuse_port=role is not None)
            await site.start()
            sites.append(site)
        stop, force = asyncio.Event(), asyncio.Event()

        def on_signal() -> None:
            if stop.is_set():
                force.set()
            stop.set()

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal)
        loop.add_signal_handler(signal.SIGHUP, core.audit.reopen)  # log rotation
        await stop.wait()
        log.info("shutting down: draining requests, then sealing")
        if role is not None and role.index == 0:
            role.stop_followers()
        for site in sites:
            await site.stop()
        await service.drain(force, SHUTDOWN_GRACE)
        if role is not None and role.index == 0:
            await role.wait_followers()
    finally:
        await runner.cleanup()
        await service.close()


def serve(settings: Settings, dev_token: str | None = None, dev: bool = False) -> None:
    logging.basicConfig(level=LOG_LEVELS.get(settings.log_level, logging.INFO),
                        format="%(asctime)s [%(levelname)s] %(name)s: %(message)s", stream=sys.stderr)
    harden_process(settings)
    addrs = ", ".join(_address(listener) for listener in settings.listeners)

    def on_ready(core: Core) -> None:
        if dev:
            print(prepare_dev_core(core, _address(settings.listeners[0]), dev_token), flush=True)
        print(f"==> strongroom server started! Listening on {addrs} (storage: {settings.storage.backend})",
              flush=True)

    def run(role=None) -> None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_run(settings, on_ready, role))

    if settings.workers > 1:
        run_workers(settings, run)
    else:
        run()


