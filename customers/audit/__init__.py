"""The audit trail and compliance review: write-ahead entries sealed into a hash chain, the settling
of changes whose outcome is unknown, the permission checks that record refused writes, and the audit
log pages."""
