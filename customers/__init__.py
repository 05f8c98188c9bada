"""The product: the screens over Tatum's ledger customers and what the dashboard keeps beside them.

One Django app, a package per area:

- `tatum`: the Tatum client, the only code that speaks HTTP to Tatum (no Django in it);
- `credits`: the app's configured client, its call records and the daily credit tallies;
- `audit`: the append-only audit trail (write-ahead entries, hash chain, settling), the audit log;
- `screens`: the customer pages: list, lookup, detail, edit, state changes;
- `exports`: background customer CSV exports.

Each area with pages has its views, forms, selectors (reads), services (writes) and urls modules. The
top-level modules are what every page shares: request context, middleware, the context processor, the
health check, permissions and the plain-words messages for Tatum's errors. Import rules between the
areas are checked by import-linter (`pyproject.toml`).
"""
