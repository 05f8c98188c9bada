"""The app's models, gathered from its areas (Django looks for one models module per app)."""

from __future__ import annotations

from django.db import models

from customers.audit.models import AuditChainHead, AuditEntry, AuditEntryImmutable
from customers.compliance.models import CaseNote, ComplianceCase
from customers.credits.models import ApiCall, CreditTally, SharedRateLimit
from customers.exports.models import ExportJob
from customers.index.models import CustomerRecord, SyncRun
from customers.permissions import CUSTOM_PERMISSIONS
from customers.usage.models import UsageDay


class CustomerAccess(models.Model):
    """Holds the customer permissions: customers live in Tatum, so there is no table behind it."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = CUSTOM_PERMISSIONS


__all__ = [
    "ApiCall",
    "AuditChainHead",
    "AuditEntry",
    "AuditEntryImmutable",
    "CaseNote",
    "ComplianceCase",
    "CreditTally",
    "CustomerAccess",
    "CustomerRecord",
    "ExportJob",
    "SharedRateLimit",
    "SyncRun",
    "UsageDay",
]
