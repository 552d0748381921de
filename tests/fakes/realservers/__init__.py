"""Real Debian servers on loopback for end-to-end tests: a private Postfix and an nginx."""
