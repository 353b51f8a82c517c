"""Typed keys for what the aiohttp application holds (aiohttp's AppKey)."""

from __future__ import annotations

from typing import Callable

from aiohttp import web

from config.settings import Settings
from server.core import Core

CORE = web.AppKey("core", Core)
SETTINGS = web.AppKey("settings", Settings)
ON_READY = web.AppKey("on_ready", Callable[[Core], None])
# With worker processes: this process's role (server/worker_processes.py) and its index.
WORKER_ROLE = web.AppKey("worker_role", object)
WORKER_INDEX = web.AppKey("worker_index", str)
