"""The `mxbot` command: `check` and the subcommands, each in its own module, imported when used."""
