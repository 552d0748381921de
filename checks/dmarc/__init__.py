"""DMARC (RFC 9989): record syntax, policy discovery by the DNS tree walk, and the `dmarc` check."""
