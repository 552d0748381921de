"""Mail servers for tests, on loopback, in the test's own event loop: SMTP, IMAP/POP3, hostile."""
