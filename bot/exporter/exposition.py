"""Serving a registry over aiohttp, in the format the scraper asks for (prometheus_client's own
content negotiation: the text format 0.0.4 by default, OpenMetrics 1.0 when the Accept header
names it; gzip when accepted), and the registry every process starts from."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.registry import Collector


def process_registry() -> CollectorRegistry:
    """A registry with the process (CPU, memory, file descriptors) and Python (version, GC)
    collectors, which the library's global registry would also hold: ours are per app, so tests
    and several apps in one process never register a name twice."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


async def respond(registry: Collector, request: web.Request) -> web.StreamResponse:
    """`registry` collected now, in the format `request` accepts."""
    return await make_aiohttp_handler(registry)(request)
