"""A plain Django peer of the dashboard's customer list and detail pages, for `make bench`.

Written as a competent Django developer would write those two pages, with nothing else: stock auth
and database sessions, `login_required`, one `requests.Session` per process, autoescaped templates.
It imports nothing from the dashboard (`customers`, `dashboard`, `sandbox`): it is an independent
project that reads the same Tatum API (the benchmark's sandbox).
"""
