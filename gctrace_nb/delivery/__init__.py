"""What leaves the toolkit after a trace: the webhook summary (signed, with an outbox) and the audit log."""
