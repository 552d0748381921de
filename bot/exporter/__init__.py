"""The Prometheus face: `/probe` (one report as series, blackbox-exporter style), `/metrics`, and the
standalone exporter's web app. Needs no Slack and no database."""
