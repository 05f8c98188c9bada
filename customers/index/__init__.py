"""The customer index: a local, read-only, searchable copy of Tatum's customers (`CustomerRecord`),
filled by a background sync of the whole ledger and by every read and successful write the dashboard
makes, so people can search, filter, sort and count, which Tatum's API cannot do."""
