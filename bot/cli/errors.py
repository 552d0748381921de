"""Exit statuses and the usage error every `mxbot` subcommand shares."""

from __future__ import annotations

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad command-line input; the message is shown to the user as is."""
