"""Credits: the app's configured Tatum client, the record of every call it makes (`ApiCall`), the
daily credit tallies the page header reads, and the circuit breaker fed by those calls."""
