"""The credit usage page: what the dashboard's calls to Tatum cost, per day, by user and by action,
against the monthly credit budget, with a CSV download; and the budget that every page's banner reads."""
