"""Real Debian servers on loopback for end-to-end tests: a private Postfix instance and an nginx.

Nothing here touches the system's own Postfix or nginx configuration: each lab lives in a temporary
directory of its own (config, queue, data, logs, certificates) and binds only the loopback addresses
its module names, so a system instance left running by the package cannot interfere except on the
standard ports 25 and 443, which are used only when free (for the one CLI run).

`postfix` and `nginx` hold one lab each, `testca` the CA both take their certificates from, and
`processes` what they (and `tests.fakes.postgres`) share: binaries, ports, readiness, cleanup.
"""
