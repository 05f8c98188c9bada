"""Compliance review: cases opened on customers with a compliance gap (or flagged by an officer),
their status, assignee and append-only notes, each action an entry in the audit trail."""
