"""Name-server health (the `ns` check), and finding a zone's name servers for `mxbot live`."""
