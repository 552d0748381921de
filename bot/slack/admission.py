"""Whether a request may run now: the per-user and per-channel rate limits, and the queue."""

from __future__ import annotations

from bot.slack.deps import Deps, Where


def admit(deps: Deps, where: Where) -> str:
    """ "" when the report may run (and it is counted); otherwise the reason, for the user."""
    user_key, channel_key = f"{where.team}:{where.user}", f"{where.team}:{where.channel}"
    wait_user = deps.user_limit.retry_after(user_key)
    if wait_user:
        deps.metrics.refusal("user_rate")
        return (
            f"You have asked for {deps.user_limit.per_minute} reports in the last minute; "
            f"try again in {wait_user:.0f} s."
        )
    wait_channel = deps.channel_limit.retry_after(channel_key)
    if wait_channel:
        deps.metrics.refusal("channel_rate")
        return (
            f"This channel has had {deps.channel_limit.per_minute} reports in the last minute; "
            f"try again in {wait_channel:.0f} s."
        )
    if deps.gate.full:
        deps.metrics.refusal("queue_full")
        return f"I am busy with {deps.gate.running} reports and {deps.gate.waiting} more waiting; try again in a minute."
    deps.user_limit.record(user_key)
    deps.channel_limit.record(channel_key)
    return ""
