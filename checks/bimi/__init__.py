"""BIMI: the `default._bimi` record, its logo and mark certificate, and the `bimi` check."""
