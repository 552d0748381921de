"""The `tls` check and the certificate/protocol verdicts it shares with `dane` and `ports`."""
