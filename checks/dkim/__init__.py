"""DKIM (RFC 6376, RFC 8301, RFC 8463): key record syntax, selector probing, and the `dkim` check."""
