"""Watch-list digests: when they are due, what broke and what changed, posted once per slot."""
