"""Mail servers for tests, on loopback, in the test's own event loop.

`smtp`: a real aiosmtpd with STARTTLS, and a scripted SMTP server for what aiosmtpd will not do.
`imap_pop3`: IMAP/POP3 stand-ins for the client ports. `hostile`: the pathological cases (tarpit,
421/554 greetings, garbage, refused STARTTLS, broken handshakes, drip-feeding, a hang-up right after
STARTTLS's 220) and a `Blackhole` port that drops SYNs like a firewall. `pki`: the certificates,
`loopback`: the TCP server the scripted ones run in and the prober settings that reach them.
"""
