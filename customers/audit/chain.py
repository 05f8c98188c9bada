"""Verification of the audit trail's hash chain (`manage.py verify_audit`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from customers.audit.models import AuditChainHead, AuditEntry

CHAIN_CHUNK_SIZE = 1000


@dataclass(frozen=True)
class ChainReport:
    sealed: int
    open: int
    head_sequence: int
    head_hash: str
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


class _ChainBroken(Exception):
    pass


@dataclass
class _Walk:
    """Where the walk is: the sequence and predecessor hash the next entry must have."""

    expected_sequence: int
    expected_prev: str
    previous: AuditEntry | None = None


def _describe(entry: AuditEntry, *, capital: bool = False) -> str:
    action = entry.get_action_display().lower()
    text = f"entry #{entry.pk} (sequence {entry.sequence}, {action} by {entry.actor_username})"
    return text[0].upper() + text[1:] if capital else text


def audit_chain_verify(
    *,
    chunk_size: int = CHAIN_CHUNK_SIZE,
    anchors: Iterable[tuple[int, str]] = (),
    start: tuple[int, str] = (1, ""),
) -> ChainReport:
    """Walk the sealed entries in sequence order, recomputing each hash, and report the first break.

    Reads `chunk_size` entries at a time, so memory does not grow with the log. `anchors` are
    (sequence, hash) pairs recorded earlier (for instance from a previous run's success line); they
    catch a chain rewritten wholesale, which the database alone cannot reveal. `start` is where the
    chain begins: (1, "") unless older entries were archived and removed, in which case it is the
    first kept sequence and the hash of the last archived entry.
    """
    head = AuditChainHead.objects.filter(pk=1).first()
    head_sequence, head_hash = (head.last_sequence, head.last_hash) if head else (0, "")
    open_count = AuditEntry.objects.filter(sequence__isnull=True).count()
    pending_anchors = dict(anchors)
    walk = _Walk(expected_sequence=start[0], expected_prev=start[1])
    try:
        _walk_chain(walk, head_sequence, pending_anchors, chunk_size)
        _check_head(walk, head_sequence, head_hash)
        _check_anchors_found(pending_anchors)
    except _ChainBroken as broken:
        return ChainReport(0, open_count, head_sequence, head_hash, problem=str(broken))
    return ChainReport(walk.expected_sequence - start[0], open_count, head_sequence, head_hash)


def _walk_chain(walk: _Walk, head_sequence: int, anchors: dict[int, str], chunk_size: int) -> None:
    last_sequence = -1
    while True:
        sealed = AuditEntry.objects.filter(sequence__isnull=False, sequence__gt=last_sequence)
        chunk = list(sealed.order_by("sequence")[:chunk_size])
        if not chunk:
            return
        for entry in chunk:
            _check_entry(entry, walk, head_sequence)
            if entry.sequence in anchors and anchors.pop(entry.sequence) != entry.entry_hash:
                raise _ChainBroken(
                    f"{_describe(entry, capital=True)} does not match the hash recorded for sequence "
                    f"{entry.sequence}: the chain was rewritten from there or earlier."
                )
            walk.expected_sequence, walk.expected_prev, walk.previous = (
                entry.sequence + 1,
                entry.entry_hash,
                entry,
            )
        last_sequence = chunk[-1].sequence


def _check_entry(entry: AuditEntry, walk: _Walk, head_sequence: int) -> None:
    if entry.sequence < walk.expected_sequence or entry.sequence > head_sequence:
        raise _ChainBroken(
            f"{_describe(entry, capital=True)} was inserted out of order: the chain head says the last "
            f"sequence is {head_sequence} and the chain expected sequence {walk.expected_sequence} next."
        )
    if entry.sequence > walk.expected_sequence:
        raise _ChainBroken(
            f"The entry with {_sequences(walk.expected_sequence, entry.sequence - 1)} is missing "
            f"(deleted, or unsealed) before {_describe(entry)}."
        )
    if entry.content_hash(entry.prev_hash) != entry.entry_hash:
        raise _ChainBroken(
            f"{_describe(entry, capital=True)} was changed after it was sealed: "
            "its content no longer matches its hash."
        )
    if entry.prev_hash != walk.expected_prev:
        before = _describe(walk.previous) if walk.previous else "the start of the chain"
        raise _ChainBroken(
            f"{_describe(entry, capital=True)} does not link to {before}: one of the two was replaced or "
            "rewritten with a new hash."
        )


def _sequences(first: int, last: int) -> str:
    return f"sequence {first}" if first == last else f"sequences {first} to {last}"


def _check_head(walk: _Walk, head_sequence: int, head_hash: str) -> None:
    last = walk.expected_sequence - 1
    if last < head_sequence:
        raise _ChainBroken(
            f"The newest sealed entries ({_sequences(last + 1, head_sequence)}) are missing: "
            "deleted, or unsealed."
        )
    if walk.expected_prev != head_hash:
        raise _ChainBroken(
            f"The chain head's hash does not match the last sealed entry (sequence {last}): "
            "one of them was rewritten after it was sealed."
        )


def _check_anchors_found(anchors: dict[int, str]) -> None:
    if anchors:
        sequence = min(anchors)
        raise _ChainBroken(f"No sealed entry has the recorded sequence {sequence}: the chain lost entries.")
