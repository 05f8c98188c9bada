"""Ledger ids: 24 lowercase hex characters, like the MongoDB ObjectIds Tatum issues."""

from __future__ import annotations

import random
import secrets

LEDGER_ID_LENGTH = 24


def new_ledger_id(rng: random.Random | None = None) -> str:
    """A random id; pass a seeded `rng` for reproducible ids (the seed command does)."""
    bits = rng.getrandbits(96) if rng is not None else secrets.randbits(96)
    return f"{bits:024x}"
