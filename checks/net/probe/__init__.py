"""Probing mail servers (SMTP, submission, IMAP, POP3) step by step, politely and within bounds."""
