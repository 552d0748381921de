"""The layout's rules, read from the code's own imports: no import cycle, nothing imports upwards,
and a CLI call loads neither Slack nor SQLAlchemy.

Every import counts, including those inside functions (a lazy import is still a dependency), and
`if TYPE_CHECKING:` is refused outright: it is how cycles hide. ARCHITECTURE.md states these rules
in words; a failure here names the offending import.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("checks", "bot")
HEAVY = ("slack_bolt", "slack_sdk", "sqlalchemy", "aiohttp")  # what a CLI check must not load
DEV_ONLY = ("aiosmtpd", "trustme", "pytest", "hypothesis", "yaml", "jsonschema", "mypy", "psycopg")


@dataclass(frozen=True, slots=True)
class Import:
    source: str  # importing module
    target: str  # imported module (ours or third-party), as precise as the import names it
    line: int

    def __str__(self) -> str:
        return f"{self.source} (line {self.line}) imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, ast.Module]:
    return {
        module_name(p): ast.parse(p.read_text(), str(p))
        for package in PACKAGES
        for p in sorted((ROOT / package).rglob("*.py"))
    }


def imports_of(name: str, tree: ast.Module, known: set[str]) -> Iterator[Import]:
    """What `name` imports; `from a import b` counts as importing `a.b` when that is a module."""
    package = name if name in known and _is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield Import(name, full if full in known else base, node.lineno)


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - node.level + 1])
    return f"{base}.{node.module}" if node.module else base


def _is_package(name: str) -> bool:
    return (ROOT / name.replace(".", "/") / "__init__.py").exists()


@pytest.fixture(scope="module")
def graph() -> list[Import]:
    trees = sources()
    known = set(trees)
    return [i for name, tree in trees.items() for i in imports_of(name, tree, known)]


def ours(graph: list[Import]) -> list[Import]:
    return [i for i in graph if i.target.split(".")[0] in PACKAGES]


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def cycles(edges: list[Import]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), or a self-import."""
    succ: dict[str, set[str]] = {}
    for e in edges:
        succ.setdefault(e.source, set()).add(e.target)
        succ.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in succ[v]:
                found.append(sorted(component))

    for v in sorted(succ):
        if v not in index:
            visit(v)
    return found


# ---- the rules ------------------------------------------------------------------------------------
def test_the_code_has_no_import_cycle(graph: list[Import]) -> None:
    assert cycles(ours(graph)) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    loop = [Import("a", "b", 1), Import("b", "c", 1), Import("c", "a", 1), Import("c", "d", 1)]

    assert cycles(loop) == [["a", "b", "c"]]


def test_nothing_hides_an_import_behind_type_checking() -> None:
    hidden = [
        f"{name} line {node.lineno}"
        for name, tree in sources().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
    ]

    assert hidden == []


def test_package_inits_import_nothing() -> None:
    """A package's __init__ that imports its children makes every child import the package's
    siblings: cycles hide there. Ours hold a docstring only."""
    busy = [
        name
        for name, tree in sources().items()
        if _is_package(name) and any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in tree.body)
    ]

    assert busy == []


def test_the_engine_never_imports_the_faces(graph: list[Import]) -> None:
    upward = [
        str(i) for i in graph if within(i.source, "checks") and within(i.target, "bot", *HEAVY)
    ]

    assert upward == []


def test_network_clients_import_no_check_and_not_the_engine(graph: list[Import]) -> None:
    """checks/net sits under everything that uses the network: it may use the settings, the
    result model and itself, nothing else of ours."""
    allowed = ("checks.net", "checks.settings", "checks.model")
    upward = [
        str(i)
        for i in ours(graph)
        if within(i.source, "checks.net") and not within(i.target, *allowed)
    ]

    assert upward == []


def test_the_foundation_imports_only_itself(graph: list[Import]) -> None:
    foundation = ("checks.model", "checks.settings", "checks.target")
    upward = [
        str(i)
        for i in ours(graph)
        if within(i.source, *foundation) and not within(i.target, *foundation)
    ]

    assert upward == []


def test_the_diagnosis_reads_only_the_result_model(graph: list[Import]) -> None:
    """The diagnosis is pure: it judges a finished report, so it never reaches the network, the
    engine, the context or a check; only the engine applies it."""
    allowed = ("checks.diagnosis", "checks.model")
    reaching = [
        str(i)
        for i in ours(graph)
        if within(i.source, "checks.diagnosis") and not within(i.target, *allowed)
    ]
    users = {
        i.source
        for i in ours(graph)
        if within(i.target, "checks.diagnosis") and not within(i.source, "checks.diagnosis")
    }

    assert reaching == []
    assert users == {"checks.engine"}


def test_only_the_registry_imports_a_check_module(graph: list[Import]) -> None:
    """Checks never call each other: they share facts through the context, and pure modules
    (a check package's parser, say) through plain imports."""
    from checks import registry

    modules = {
        f"checks.{i}" if (ROOT / "checks" / f"{i}.py").exists() else f"checks.{i}.check"
        for i in registry.IDS
    }
    direct = [str(i) for i in ours(graph) if i.target in modules and i.source != "checks.registry"]

    assert direct == []


def test_renderers_never_reach_the_network_or_the_engine(graph: list[Import]) -> None:
    """They render plain results: the report's, the fix bundle's (`checks.bundle.result`), the
    message diagnosis's (`checks.message.result`) and `mxbot live`'s (`checks.live.result`)."""
    allowed = (
        "bot.render",
        "bot.commands",
        "checks.model",
        "checks.target",
        "checks.bundle.result",
        "checks.message.result",
        "checks.live.result",
    )
    reaching = [
        str(i)
        for i in ours(graph)
        if within(i.source, "bot.render") and not within(i.target, *allowed)
    ]

    assert reaching == []


def test_live_results_are_plain_values(graph: list[Import]) -> None:
    """checks/live/result.py is what the renderers read: it imports nothing of ours."""
    reaching = [str(i) for i in ours(graph) if i.source == "checks.live.result"]

    assert reaching == []


def test_the_fix_bundle_is_a_function_of_the_report(graph: list[Import]) -> None:
    """checks/bundle reads a finished `Report`: it may use the result model and itself only."""
    reaching = [
        str(i)
        for i in ours(graph)
        if within(i.source, "checks.bundle")
        and not within(i.target, "checks.bundle", "checks.model")
    ]

    assert reaching == []


def test_the_message_diagnosis_reaches_the_network_only_through_its_clients(
    graph: list[Import],
) -> None:
    """checks/message is pure parsers and verdicts beside the few modules that look things up
    through injected clients; only `diagnose` (the orchestration) and `live` (reports on what a
    bounce names) reach the engine, and nothing below the faces imports the message package but
    the faces themselves."""
    engine_side = ("checks.engine", "checks.registry")
    reaching = [
        str(i)
        for i in ours(graph)
        if within(i.source, "checks.message")
        and within(i.target, *engine_side)
        and i.source not in ("checks.message.live",)
    ]
    pure_names = [
        "parse",
        "hops",
        "reported",
        "bounce",
        "codes",
        "knowledge",
        "bulk",
        "headline",
        "result",
        "explain",
    ]
    pure = {f"checks.message.{name}" for name in pure_names}
    networked = [str(i) for i in ours(graph) if i.source in pure and within(i.target, "checks.net")]
    users = {
        i.source
        for i in ours(graph)
        if within(i.target, "checks.message") and not within(i.source, "checks.message")
    }

    assert reaching == []
    assert networked == []
    assert all(within(u, "bot.cli", "bot.render", "bot.slack") for u in users), users


def test_the_slack_layer_never_resolves_or_connects_itself(graph: list[Import]) -> None:
    """It gets the engine as an argument; building the shared clients is the one thing it may
    ask of checks/net."""
    reaching = [
        str(i)
        for i in ours(graph)
        if within(i.source, "bot.slack")
        and within(i.target, "checks.net")
        and i.target != "checks.net.services"
    ]

    assert reaching == []


def test_storage_and_digests_never_import_the_cli(graph: list[Import]) -> None:
    reaching = [
        str(i)
        for i in ours(graph)
        if not within(i.source, "bot.cli") and within(i.target, "bot.cli")
    ]

    assert reaching == []


def test_digests_take_store_and_slack_from_their_caller(graph: list[Import]) -> None:
    """The digest package is pure apart from its scheduler, which is handed its store and Slack
    clients; the store may use the digest's plain types, so the arrow must not also point back."""
    reaching = [
        str(i)
        for i in ours(graph)
        if within(i.source, "bot.digest") and within(i.target, "bot.store", "bot.slack", "bot.cli")
    ]

    assert reaching == []


def test_storage_uses_only_the_digests_plain_types(graph: list[Import]) -> None:
    """The store keeps the digests' and follow-ups' plain values; what they mean is decided above it."""
    allowed = (
        "bot.store",
        "bot.digest.schedule",
        "bot.digest.snapshot",
        "bot.digest.delivery",
        "bot.digest.followup",
        "bot.digest.alerts",
        "bot.digest.history",
        "checks.model",
    )
    reaching = [
        str(i)
        for i in ours(graph)
        if within(i.source, "bot.store") and not within(i.target, *allowed)
    ]

    assert reaching == []


def test_the_exporter_needs_neither_slack_nor_the_database(graph: list[Import]) -> None:
    """bot/exporter (`/probe`, `mxbot exporter`) runs the engine on the shared services and serves
    Prometheus formats: no Slack, no store, no digests, no CLI; from checks/net only the services
    bundle, as for the Slack layer. The Slack app mounts it, never the other way round."""
    forbidden = ("bot.slack", "bot.store", "bot.digest", "bot.cli", "bot.lab", "bot.metrics")
    reaching = [
        str(i)
        for i in graph
        if within(i.source, "bot.exporter")
        and (
            within(i.target, *forbidden, "slack_bolt", "slack_sdk", "sqlalchemy")
            or (within(i.target, "checks.net") and i.target != "checks.net.services")
        )
    ]

    assert reaching == []


def test_probe_series_are_a_function_of_the_report(graph: list[Import]) -> None:
    """What a probe exposes is read from a finished `Report` (its statuses and facts) alone."""
    pure = ("bot.exporter.series", "bot.exporter.labels")
    reaching = [
        str(i)
        for i in ours(graph)
        if within(i.source, *pure) and not within(i.target, *pure, "checks.model", "bot.exporter")
    ]

    assert reaching == []


def test_the_app_metrics_count_results_and_nothing_more(graph: list[Import]) -> None:
    allowed = ("checks.model", "bot.exporter.exposition")
    reaching = [
        str(i) for i in ours(graph) if i.source == "bot.metrics" and not within(i.target, *allowed)
    ]

    assert reaching == []


def test_the_lab_is_used_only_by_the_cli_and_uses_only_itself(graph: list[Import]) -> None:
    """The lab (`mxbot demo`) is servers and zones: the engine never sees it, and it sees only
    itself, so the demo's loopback servers can never creep into what the faces run."""
    wrong = [
        str(i)
        for i in ours(graph)
        if (within(i.target, "bot.lab") and not within(i.source, "bot.lab", "bot.cli"))
        or (within(i.source, "bot.lab") and not within(i.target, "bot.lab"))
    ]

    assert wrong == []


def test_the_installed_package_needs_neither_the_tests_nor_a_dev_extra(graph: list[Import]) -> None:
    """`pip install .` ships bot and checks with the runtime dependencies only: `mxbot demo` and
    everything else must run without the test tree, aiosmtpd, trustme, pytest…"""
    missing = [str(i) for i in graph if i.target.split(".")[0] in ("tests", "lab", *DEV_ONLY)]

    assert missing == []


# ---- what a CLI call loads --------------------------------------------------------------------
def loaded_after(code: str) -> set[str]:
    """Top-level package names in sys.modules after running `code` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    return set(python(probe).split())


def python(code: str) -> str:
    """Run `code` in a fresh interpreter (nothing imported yet) and return what it printed."""
    done = subprocess.run(  # noqa: S603 -- our own interpreter, code we wrote
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return done.stdout


def test_mxbot_help_and_check_import_neither_slack_nor_sqlalchemy() -> None:
    for argv in (
        ["check", "example.com"],
        ["spf", "example.com", "--ip", "192.0.2.1"],
        ["fix", "example.com"],
        ["message", "bounce.eml"],
        ["dkim", "keygen", "--domain", "example.com", "--selector", "s1"],
        ["demo", "--mail"],
    ):
        code = (
            "from bot.cli.main import parse_args; from checks import registry\n"
            f"parse_args({argv!r}); registry.all_checks()\n"
            "import checks.engine, checks.net.services"
        )

        assert loaded_after(code) & {*HEAVY, *DEV_ONLY, "tests"} == set(), argv


def test_mxbot_exporter_loads_neither_slack_nor_sqlalchemy() -> None:
    code = (
        "from bot.cli.main import parse_args; parse_args(['exporter'])\n"
        "import bot.exporter.http, bot.cli.exporter, checks.net.services"
    )

    loaded = loaded_after(code)

    assert loaded & {"slack_bolt", "slack_sdk", "sqlalchemy", *DEV_ONLY, "tests"} == set()
    assert {"aiohttp", "prometheus_client"} <= loaded  # the guard above is not vacuous


def test_the_slack_commands_do_load_slack() -> None:
    """The guard above would pass vacuously if nothing ever imported Slack."""
    assert "slack_bolt" in loaded_after(
        "from bot.cli.main import parse_args; parse_args(['serve'])"
    )


def test_a_check_named_with_only_is_the_only_check_module_imported() -> None:
    from checks import registry

    code = "from checks import registry; registry.select(['mx'], is_address=False)"
    probe = (
        f"{code}\nimport sys\nprint(' '.join(m for m in sys.modules if m.startswith('checks.')))"
    )
    out = python(probe).split()
    others = {f"checks.{i}" for i in registry.IDS if i != "mx"} | {
        f"checks.{i}.check" for i in registry.IDS
    }

    assert "checks.mx" in out
    assert others & set(out) == set()


def test_each_registry_id_loads_the_check_of_that_id() -> None:
    from checks import registry

    assert [registry.load(i).ID for i in registry.IDS] == list(registry.IDS)
    with pytest.raises(KeyError):
        registry.load("nope")
