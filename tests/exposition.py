"""What tests assert on in Prometheus output, read back with prometheus_client's own parser (an
oracle apart from the code that wrote it): one sample's value, or every sample of a name."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from bot.metrics import Metrics

Labels = frozenset[tuple[str, str]]


def sample(source: Metrics | CollectorRegistry, name: str, **labels: str) -> float | None:
    """The value of one sample of an app's (or any registry's) metrics; None when absent."""
    registry = source.registry if isinstance(source, Metrics) else source
    return registry.get_sample_value(name, labels)


def samples(text: str) -> dict[str, dict[Labels, float]]:
    """Every sample in a text exposition: name -> {labels: value}."""
    out: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
    return out


def helps(text: str) -> dict[str, tuple[str, str]]:
    """Every family in a text exposition: name -> (type, HELP)."""
    return {f.name: (f.type, f.documentation) for f in text_string_to_metric_families(text)}
