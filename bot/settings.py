"""Settings for the Slack app: the engine's `Settings` plus Slack credentials and service limits.

`AppSettings.from_env` is the only place the app reads the environment. Secrets are wrapped in
`Secret`, whose `repr` and `str` never show the value, so a logged settings object leaks nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from checks.settings import Settings, SettingsError

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite:///mxbot.db"

# What the bot asks for when installed; manifest.yml lists the same scopes (a test compares).
# The history scopes let a digest whose post was interrupted be looked for before it is posted
# again (`bot.digest.courier`): public and private channels.
BOT_SCOPES: tuple[str, ...] = (
    "app_mentions:read",
    "chat:write",
    "commands",
    "files:read",  # the .eml/.txt attached to a message the shortcut is used on, or sent in a DM
    "im:history",  # files and pasted headers sent to the bot in a DM
    "channels:history",
    "groups:history",
)


@dataclass(frozen=True, slots=True)
class Secret:
    """A credential; only `reveal()` gives the value, so it cannot leak through a log line."""

    _value: str = field(default="", repr=False)

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class AppSettings:
    """Everything the Slack app needs; `engine` is what the checks need."""

    engine: Settings = field(default_factory=Settings)
    bot_token: Secret = Secret()
    signing_secret: Secret = Secret()
    app_token: Secret = Secret()  # xapp-…, Socket Mode only
    client_id: str = ""
    client_secret: Secret = Secret()
    api_url: str = DEFAULT_API_URL  # GovSlack and tests use another host
    database_url: str = DEFAULT_DATABASE_URL
    port: int = 3000
    user_reports_per_minute: int = 6
    channel_reports_per_minute: int = 20
    max_concurrent_reports: int = 4
    max_queued_reports: int = 50
    update_interval: float = 1.0  # seconds between progressive chat.update calls
    probe_token: Secret = Secret()  # MXBOT_PROBE_TOKEN: GET /probe asks for it as a bearer token
    digest_grace_minutes: int = 0  # how long a failed digest is retried; 0: by its cadence
    history_days: int = 400  # MXBOT_HISTORY_DAYS: how long record values are kept
    alert_interval_minutes: int = 15  # MXBOT_ALERT_INTERVAL: how often alerting watches are checked

    @property
    def history_keep(self) -> timedelta:
        return timedelta(days=self.history_days)

    @property
    def alert_interval(self) -> timedelta:
        return timedelta(minutes=self.alert_interval_minutes)

    @property
    def multi_workspace(self) -> bool:
        """OAuth installs into many workspaces when the app's client id and secret are set."""
        return bool(self.client_id and self.client_secret)

    @property
    def oauth_authorize_url(self) -> str:
        """The authorize page on the same Slack host as the Web API (slack.com or GovSlack)."""
        base = self.api_url.rstrip("/")
        base = base.removesuffix("/api")
        return f"{base}/oauth/v2/authorize"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AppSettings:
        """Read SLACK_* and MXBOT_* variables (engine ones via `Settings.from_env`)."""
        api_url = env.get("SLACK_API_URL", "").strip() or DEFAULT_API_URL
        if not api_url.startswith(("https://", "http://")):
            raise SettingsError(f"SLACK_API_URL={api_url!r}: give an http(s) URL")
        return cls(
            engine=Settings.from_env(env),
            bot_token=Secret(env.get("SLACK_BOT_TOKEN", "").strip()),
            signing_secret=Secret(env.get("SLACK_SIGNING_SECRET", "").strip()),
            app_token=Secret(env.get("SLACK_APP_TOKEN", "").strip()),
            client_id=env.get("SLACK_CLIENT_ID", "").strip(),
            client_secret=Secret(env.get("SLACK_CLIENT_SECRET", "").strip()),
            api_url=api_url if api_url.endswith("/") else api_url + "/",
            database_url=env.get("MXBOT_DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
            port=_int(env, "PORT", 3000, 1, 65535),
            user_reports_per_minute=_int(env, "MXBOT_USER_REPORTS_PER_MINUTE", 6, 1, 1000),
            channel_reports_per_minute=_int(env, "MXBOT_CHANNEL_REPORTS_PER_MINUTE", 20, 1, 1000),
            max_concurrent_reports=_int(env, "MXBOT_MAX_CONCURRENT_REPORTS", 4, 1, 256),
            max_queued_reports=_int(env, "MXBOT_MAX_QUEUED_REPORTS", 50, 0, 10000),
            probe_token=Secret(env.get("MXBOT_PROBE_TOKEN", "").strip()),
            digest_grace_minutes=_int(env, "MXBOT_DIGEST_GRACE", 0, 0, 7 * 24 * 60),
            history_days=_int(env, "MXBOT_HISTORY_DAYS", 400, 1, 36500),
            alert_interval_minutes=_int(env, "MXBOT_ALERT_INTERVAL", 15, 1, 24 * 60),
        )


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise SettingsError(f"{name}={raw!r}: use a whole number between {low} and {high}")
    return int(raw)
