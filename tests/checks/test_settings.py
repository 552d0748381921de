"""Settings: the greeting wait is its own setting, and the default budgets leave room for it."""

from __future__ import annotations

import pytest

from checks.net.probe.prober import SmtpProber
from checks.settings import (
    DEFAULT_GREETING_TIMEOUT,
    DEFAULT_TIMEOUT,
    Nameserver,
    Settings,
    SettingsError,
)


def test_the_default_budgets_hold_the_greeting_wait_and_the_steps_after_it() -> None:
    settings = Settings.from_env({})
    prober = SmtpProber(settings, helo_name="mxbot.test")

    assert (settings.timeout, settings.greeting_timeout) == (3.0, 20.0)
    assert settings == Settings()  # the environment's defaults are the dataclass's
    assert prober.greeting_timeout == DEFAULT_GREETING_TIMEOUT
    assert prober.probe_budget == DEFAULT_GREETING_TIMEOUT + 3 * DEFAULT_TIMEOUT
    assert prober.probe_budget < settings.check_budget < settings.report_budget


def test_the_greeting_timeout_comes_from_the_environment_and_the_budgets_grow_with_it() -> None:
    settings = Settings.from_env({"MXBOT_GREETING_TIMEOUT": "60"})
    prober = SmtpProber(settings, helo_name="mxbot.test")

    assert settings.greeting_timeout == 60.0
    assert prober.probe_budget == 60.0 + 3 * settings.timeout
    assert prober.probe_budget < settings.check_budget < settings.report_budget


def test_an_explicit_check_budget_bounds_the_greeting_wait() -> None:
    settings = Settings.from_env({"MXBOT_CHECK_BUDGET": "10"})

    prober = SmtpProber(settings, helo_name="mxbot.test")

    assert prober.probe_budget == 9.0  # the budget less one step (at most a tenth of it)
    assert settings.report_budget >= 10.0


def test_the_greeting_wait_is_never_shorter_than_a_step() -> None:
    prober = SmtpProber(Settings(timeout=5.0, greeting_timeout=1.0), helo_name="mxbot.test")

    assert prober.greeting_timeout == 5.0


@pytest.mark.parametrize("raw", ["soon", "0", "601"])
def test_a_bad_greeting_timeout_names_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match="MXBOT_GREETING_TIMEOUT"):
        Settings.from_env({"MXBOT_GREETING_TIMEOUT": raw})


def test_live_resolvers_and_the_authoritative_port_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {"MXBOT_LIVE_RESOLVERS": "127.0.0.1:5353, [::1]:53", "MXBOT_AUTHORITATIVE_PORT": "5300"}
    )

    assert settings.live_resolvers == (Nameserver("127.0.0.1", 5353), Nameserver("::1", 53))
    assert settings.authoritative_port == 5300
    assert (Settings().live_resolvers, Settings().authoritative_port) == ((), 53)


@pytest.mark.parametrize("raw", ["0", "65536", "dns"])
def test_a_bad_authoritative_port_names_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match="MXBOT_AUTHORITATIVE_PORT"):
        Settings.from_env({"MXBOT_AUTHORITATIVE_PORT": raw})
