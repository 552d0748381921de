"""manifest.yml is a valid Slack app manifest, asks only for the scopes the app uses, and Procfile runs it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev extra
import pytest
import yaml

from bot.settings import BOT_SCOPES, AppSettings, Secret
from checks.settings import SettingsError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "data" / "slack-manifest.schema.1.0.0.json"


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text())
    return data


def test_manifest_validates_against_slacks_published_schema() -> None:
    schema = json.loads(SCHEMA.read_text())

    jsonschema.Draft7Validator(schema).validate(manifest())


def test_manifest_has_the_command_events_interactivity_and_socket_mode() -> None:
    data = manifest()

    [command] = data["features"]["slash_commands"]
    assert command["command"] == "/mx"
    assert "spf example.com 203.0.113.7" in command["usage_hint"]
    assert set(data["settings"]["event_subscriptions"]["bot_events"]) == {
        "app_mention",
        "app_home_opened",
        "message.im",
    }
    assert data["settings"]["interactivity"]["is_enabled"] is True
    assert data["settings"]["socket_mode_enabled"] is True
    assert data["features"]["app_home"]["home_tab_enabled"] is True


def test_manifest_has_the_message_shortcut_and_lets_users_dm_the_bot() -> None:
    from bot.slack.message_listeners import SHORTCUT

    data = manifest()

    [shortcut] = data["features"]["shortcuts"]
    assert (shortcut["type"], shortcut["callback_id"]) == ("message", SHORTCUT)
    assert shortcut["name"] == "Diagnose with mxbot"
    assert data["features"]["app_home"]["messages_tab_enabled"] is True
    assert {"files:read", "im:history"} <= set(BOT_SCOPES)


def test_manifest_asks_for_exactly_the_scopes_the_app_installs_with() -> None:
    assert sorted(manifest()["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)


def test_procfile_runs_the_http_server_on_port() -> None:
    assert (ROOT / "Procfile").read_text() == "web: mxbot serve --port $PORT\n"


def test_settings_come_from_the_environment_and_never_show_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-very-secret",
        "SLACK_SIGNING_SECRET": "signing-very-secret",
        "SLACK_CLIENT_ID": "1.2",
        "SLACK_CLIENT_SECRET": "client-very-secret",
        "SLACK_API_URL": "https://slack-gov.com/api",
        "MXBOT_DATABASE_URL": "sqlite:////tmp/x.db",
        "PORT": "8080",
        "MXBOT_RESOLVERS": "127.0.0.1:5353",
        "MXBOT_USER_REPORTS_PER_MINUTE": "3",
    }

    settings = AppSettings.from_env(env)
    logging.getLogger("test").warning("settings: %s %r", settings, settings)

    assert settings.bot_token.reveal() == "xoxb-very-secret"
    assert settings.multi_workspace
    assert settings.api_url == "https://slack-gov.com/api/"
    assert settings.oauth_authorize_url == "https://slack-gov.com/oauth/v2/authorize"
    assert (settings.port, settings.user_reports_per_minute) == (8080, 3)
    assert str(settings.engine.resolvers[0]) == "127.0.0.1:5353"
    assert "very-secret" not in repr(settings)
    assert "very-secret" not in caplog.text
    assert AppSettings.from_env({}).database_url == "sqlite:///mxbot.db"
    assert repr(Secret("x")) == "Secret('***')"


@pytest.mark.parametrize(
    "env", [{"PORT": "http"}, {"SLACK_API_URL": "slack.com"}, {"MXBOT_MAX_CONCURRENT_REPORTS": "0"}]
)
def test_bad_settings_are_named(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=next(iter(env))):
        AppSettings.from_env(env)
