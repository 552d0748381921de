"""Stand-ins and real servers the tests start on loopback: DNS, SMTP/IMAP/POP3, HTTPS, Slack Web API and Socket Mode, PostgreSQL, Debian's NSD/Unbound/Postfix/nginx."""
