"""DNSSEC: is the domain signed and validated, and is its cryptography sound (the `dnssec` check)."""
