"""Changes to one customer from several processes at once, and a process killed mid-change.

The dashboard runs as real gunicorn processes on its own database (tests/faults/deployment.py), with
the sandbox slowed down so that the changes overlap.
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.faults.deployment import Browser, deployment

TRIALS = 20


def save(
    browser: Browser, customer_id: str, fingerprint: str, start: threading.Barrier, **change: str
) -> int:
    form = {
        "external_id": change.get("external_id", ""),
        "accounting_currency": "",
        "customer_country": "",
        "provider_country": change.get("provider_country", ""),
        "fingerprint": fingerprint,
    }
    start.wait(timeout=30)
    return browser.form_post(f"/customers/{customer_id}/edit/", form).status_code


def test_simultaneous_saves_never_lose_an_update(tmp_path):
    """Two support users save the same customer at the same moment, through two processes: one
    changes the external id, the other the provider country. The second must be shown the conflict,
    never overwrite the first; and the trail must record exactly the save that happened."""
    with deployment(tmp_path, latency_ms=300, timeout="1,3") as deployed:
        server = deployed.serve(workers=2, threads=4)
        alice, bob = Browser(server), Browser(server)
        customer = deployed.active_customer()
        cid = customer["id"]
        lost, outcomes = [], []
        with ThreadPoolExecutor(max_workers=2) as pool:
            for trial in range(TRIALS):
                before = deployed.ledger_customer(cid)
                fingerprint = alice.edit_fingerprint(cid)
                new_id = f"renamed-{trial:02d}"
                country = "DE" if before.get("providerCountry") != "DE" else "FR"
                start = threading.Barrier(2)
                renamed = pool.submit(save, alice, cid, fingerprint, start, external_id=new_id)
                moved = pool.submit(
                    save,
                    bob,
                    cid,
                    fingerprint,
                    start,
                    external_id=before["externalId"],
                    provider_country=country,
                )
                statuses = (renamed.result(timeout=60), moved.result(timeout=60))
                after = deployed.ledger_customer(cid)
                outcomes.append(sorted(statuses))
                if statuses[0] == 302 and after["externalId"] != new_id:
                    lost.append((trial, "external id"))
                if statuses[1] == 302 and after.get("providerCountry") != country:
                    lost.append((trial, "provider country"))
        assert lost == []
        assert outcomes == [[302, 409]] * TRIALS  # one save went through, the other saw the conflict
        succeeded = deployed.rows(
            "SELECT COUNT(*) FROM customers_auditentry WHERE action = %s AND outcome = %s",
            ("update", "succeeded"),
        )
        assert succeeded == [(TRIALS,)]


def test_a_change_cut_off_by_sigkill_then_made_again_is_not_settled_by_guessing(tmp_path):
    """A disable is sent, and the process that sent it is killed before Tatum answers. Someone else
    then enables the customer. Verifying the disable must not conclude "did not happen" from the
    customer being enabled now: it is sealed as "could not be determined", with the state read now."""
    with deployment(tmp_path, latency_ms=1000, timeout="1,3") as deployed:
        first, second = deployed.serve(workers=1, threads=4), deployed.serve(workers=1, threads=4)
        cid = deployed.active_customer()["id"]
        assert deployed.ledger_customer(cid)["enabled"] is True
        support = Browser(first)
        sending = threading.Thread(
            target=lambda: _quietly(lambda: support.form_post(f"/customers/{cid}/disable/", {"reason": "r"}))
        )
        sending.start()
        entry_id = _wait_for_pending_entry(deployed, "disable")
        deployed.kill_workers(first)  # mid-call: the disable is on its way to Tatum
        sending.join(timeout=30)
        _wait_until(lambda: deployed.ledger_customer(cid)["enabled"] is False, 10)  # Tatum applied it

        other = Browser(second)
        enabled = other.form_post(f"/customers/{cid}/enable/", {"reason": ""})
        assert enabled.status_code == 302
        assert deployed.ledger_customer(cid)["enabled"] is True

        _wait_until(lambda: _is_unsettled(other, entry_id), 20)  # past the client's timeouts
        verified = other.form_post(f"/audit/unknown/{entry_id}/verify/", {"next": f"/customers/{cid}/"})
        assert verified.status_code == 302
        outcome, message = deployed.rows(
            "SELECT outcome, error_message FROM customers_auditentry WHERE id = %s", (entry_id,)
        )[0]
        assert outcome == "undetermined"
        assert "may have changed the customer since" in message and "enabled is yes" in message


def _wait_for_pending_entry(deployed, action: str) -> int:
    def pending():
        return deployed.rows(
            "SELECT id FROM customers_auditentry WHERE action = %s AND outcome = %s", (action, "pending")
        )

    _wait_until(lambda: bool(pending()), 15)
    return pending()[0][0]


def _is_unsettled(browser: Browser, entry_id: int) -> bool:
    return (
        f"/audit/unknown/{entry_id}/verify/" in browser.get(f"{browser.url}/audit/unknown/", timeout=10).text
    )


def _wait_until(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"Still not so after {seconds} s")
        time.sleep(0.2)


def _quietly(call) -> None:
    # The server is killed under this request on purpose.
    with contextlib.suppress(Exception):
        call()
