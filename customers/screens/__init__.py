"""The customer screens support staff work in: list, lookup, detail with accounts and history, edit,
state changes (activate, deactivate, enable, disable), and account actions (activate, deactivate,
freeze, unfreeze) with the guided deactivation of a customer."""
