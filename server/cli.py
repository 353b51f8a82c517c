"""The `strongroom` command: `strongroom server -config FILE` or `strongroom server -dev`.

Flags are spelled as Vault's (single dash, -dev-root-token-id ...); double dashes work too.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import ssl
import sys
from typing import Sequence

from aiohttp import web

from config import ConfigError, dev_settings, load_settings
from config.settings import ListenerSettings, Settings
from server.access_log import AccessLogger
from server.app import RUNNER_OPTIONS, build_app
from server.core import Core
from server.dev import prepare_dev_core
from server.startup import StartupError, harden_process

SHUTDOWN_GRACE = 30.0  # seconds for in-flight requests after SIGTERM
LOG_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO,
              "warn": logging.WARNING, "error": logging.ERROR}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="strongroom", description="A sealed secrets server.")
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("server", help="run the server")
    server.add_argument("-config", "--config", help="path to an HCL or JSON config file")
    server.add_argument("-dev", "--dev", action="store_true", help="throwaway in-memory unsealed server")
    server.add_argument("-dev-root-token-id", "--dev-root-token-id", default=None)
    server.add_argument("-dev-listen-address", "--dev-listen-address", default="127.0.0.1:8200")
    return parser


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


async def _run(settings: Settings, on_ready) -> None:
    """Serve every listener until SIGTERM/SIGINT, then drain in-flight requests and seal."""
    app = build_app(settings, on_ready)
    runner = web.AppRunner(app, access_log_class=AccessLogger, shutdown_timeout=SHUTDOWN_GRACE,
                           handle_signals=False, **RUNNER_OPTIONS)
    await runner.setup()
    try:
        for listener in settings.listeners:
            site = web.TCPSite(runner, listener.host, listener.port, ssl_context=_ssl_context(listener))
            await site.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        logging.getLogger("strongroom").info("shutting down: draining requests, then sealing")
    finally:
        await runner.cleanup()


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

    asyncio.run(_run(settings, on_ready))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.dev:
            settings = dev_settings(address=args.dev_listen_address)
            serve(settings, args.dev_root_token_id, dev=True)
        elif args.config:
            serve(load_settings(args.config))
        else:
            print("strongroom server: give -config FILE or -dev", file=sys.stderr)
            return 2
    except (ConfigError, StartupError) as exc:
        print(f"strongroom: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
