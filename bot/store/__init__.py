"""The database: Slack installations, report history, processed events, watch-lists and schedules."""
