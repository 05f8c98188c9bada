"""Sessions in the database, as Django keeps them, read with one plain SQL statement.

Every signed-in page loads its session. Through the ORM that read costs about 0.12 ms of Python
(compiling the query) for a statement that takes 0.01 ms; this store runs the same statement
directly. Everything else (creating, saving, deleting, expiry) is Django's database store.
"""

from __future__ import annotations

from functools import lru_cache

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def _get_session_from_db(self) -> Session | None:
        key = self.session_key
        if key is None:
            return None
        alias = router.db_for_read(self.model)
        connection = connections[alias]
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(_session_select(alias, self.model._meta.db_table), [key, now])
            row = cursor.fetchone()
        if row is None:
            # As Django's store does: an unknown or expired key is forgotten, so a new one is made.
            self._session_key = None
            return None
        return self.model(session_key=key, session_data=row[0])


@lru_cache
def _session_select(alias: str, table: str) -> str:
    quote = connections[alias].ops.quote_name
    return (
        f"SELECT {quote('session_data')} FROM {quote(table)} "
        f"WHERE {quote('session_key')} = %s AND {quote('expire_date')} > %s"
    )
