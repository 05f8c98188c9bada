"""The customer screens support staff work in: list, lookup, detail with accounts and history, edit,
and state changes (activate, deactivate, enable, disable)."""
