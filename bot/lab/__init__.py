"""The offline lab: deliberately broken domains served from loopback DNS and SMTP servers (`mxbot demo`)."""
