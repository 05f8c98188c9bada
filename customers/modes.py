"""Which Tatum the dashboard talks to, for the banner on every page."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache

from customers.credits.client import tatum_client
from customers.tatum import TatumError

logger = logging.getLogger(__name__)

_CACHE_KEY = "tatum-network-label"
_CACHE_SECONDS = 3600
_RETRY_SECONDS = 60


def mode_label() -> str:
    """SANDBOX, or TESTNET/MAINNET as Tatum's /v3/tatum/version reports (cached: it costs a credit)."""
    if settings.SANDBOX_MODE:
        return "SANDBOX"
    label = cache.get(_CACHE_KEY)
    if label is None:
        label, ttl = _network_label_from_tatum()
        cache.set(_CACHE_KEY, label, ttl)
    return label


def _network_label_from_tatum() -> tuple[str, int]:
    try:
        version = tatum_client().get_version()
    except TatumError as exc:
        logger.warning("Could not read Tatum plan version: %s", exc)
        return "TATUM (network not known yet)", _RETRY_SECONDS
    return ("TESTNET" if version.testnet else "MAINNET"), _CACHE_SECONDS
