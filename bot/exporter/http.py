"""The exporter over HTTP: the `/probe` handler (mounted by `mxbot serve` too), and the standalone
app of `mxbot exporter`: `GET /probe`, `GET /metrics` (the process's own), `GET /healthz`, `GET /`.
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client.registry import Collector

from bot.exporter.exposition import respond
from bot.exporter.probe import Prober
from bot.exporter.request import SCRAPE_TIMEOUT_HEADER, ProbeRequestError, parse_query

log = logging.getLogger(__name__)

# The environment variable holding the probe token: the same name for `serve` and `exporter`.
PROBE_TOKEN_ENV = "MXBOT_PROBE_TOKEN"  # noqa: S105 -- the variable's name, not a token

INDEX = """mxbot exporter

/probe?target=example.com[&checks=mx,spf,...]   one report as Prometheus series
/metrics                                         this process's own metrics
/healthz                                         ok

Scrape /probe with the target as a parameter (deploy/prometheus/prometheus.yml shows the
relabelling); the job's scrape_timeout bounds each report.
"""


def probe_handler(prober: Prober, token: str = "") -> Handler:
    """`GET /probe`: 400 with the reason for a request that names no usable target or check.

    With a `token`, only requests that bring it (`Authorization: Bearer …`, which Prometheus
    sends with `authorization: {credentials: …}`) are probed; the others get 401. Without one,
    anyone who reaches the server can make it run reports and connect to mail servers.
    """

    async def probe(request: web.Request) -> web.StreamResponse:
        if token and not _authorised(request, token):
            raise web.HTTPUnauthorized(
                text="give the probe token: Authorization: Bearer …\n",
                headers={"WWW-Authenticate": 'Bearer realm="mxbot probe"'},
            )
        try:
            query = parse_query(
                request.query.items(), request.headers.get(SCRAPE_TIMEOUT_HEADER), prober.settings
            )
        except ProbeRequestError as exc:
            raise web.HTTPBadRequest(text=f"{exc}\n") from None
        log.debug("probing %s (%s)", query.target.name, ",".join(query.checks) or "default checks")
        return await respond(await prober(query), request)

    return probe


def _authorised(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def metrics_handler(registry: Collector) -> Handler:
    async def metrics(request: web.Request) -> web.StreamResponse:
        return await respond(registry, request)

    return metrics


def exporter_app(prober: Prober, registry: Collector, *, token: str = "") -> web.Application:
    """The standalone exporter: probes (behind `token` when given), and the process's own
    metrics from `registry`."""

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=INDEX)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application()
    app.add_routes(
        [
            web.get("/", index),
            web.get("/probe", probe_handler(prober, token)),
            web.get("/metrics", metrics_handler(registry)),
            web.get("/healthz", healthz),
        ]
    )
    return app


async def start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve `app`; returns the runner (for cleanup) and the bound port (for port 0)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    addresses = runner.addresses
    bound = addresses[0][1] if addresses else port
    return runner, int(bound)
