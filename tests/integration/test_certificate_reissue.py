"""Verification (intake) and re-issue (the console, as a publisher) across intake, console and
certificate-renderer processes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.broker import RabbitNode
from services.console.permissions import Role
from shared.personal_data import open_fields
from tests.integration.conftest import collect
from tests.integration.test_certificates import publish, recorded, renderer
from tests.support.console import bearer, operator_token
from tests.support.sealed import Opener

pytestmark = pytest.mark.timeout(180)


async def test_verification_shows_initials_only_and_reissue_replaces_the_old_number(
    rabbit: RabbitNode,
    service_env: dict[str, str],
    tmp_path: Path,
    issued: Any,
    intake: str,
    console: str,
    pledge_intake: Any,
    db: Any,
) -> None:
    proc = renderer(service_env, tmp_path, "certificate-renderer.1")
    proc.wait_ready()
    await db.pledges.insert_one({"_id": "pl_test000007", "state": "recorded", "member_id": "mb_7"})
    await db.members.insert_one({"_id": "mb_7", "name": "Sok Daar"})
    try:
        await publish(rabbit, [recorded(7, "Sok Daar")])
        first = (await collect(issued, 1, timeout=30))[0].data
        publisher = bearer(await operator_token(db, Role.publisher, env=service_env))
        viewer = bearer(await operator_token(db, Role.viewer, env=service_env))
        reissue = f"{console}/api/v1/operator/certificates/{first.certificate_number}/reissue"
        async with httpx.AsyncClient(base_url=intake) as client:
            valid = (await client.get(f"/api/v1/certificates/{first.certificate_number}")).json()
            assert valid["state"] == "valid"
            assert valid["signer"] == "S. D.", "initials only: the signer did not choose to show the name"
            page = await client.get(f"/v/{first.certificate_number}?lang=km")
            assert page.status_code == 200 and "មានសុពលភាព" in page.text and "Sok Daar" not in page.text
            assert (await client.get("/v/KCAP-2026-999999")).status_code == 404
            assert (await client.get("/v/<script>")).status_code == 404

            anonymous = await client.post(reissue, json={"corrected_name": "Sok Dara", "reason": "misspelt"})
            assert anonymous.status_code == 401
            by_viewer = await client.post(
                reissue, json={"corrected_name": "Sok Dara", "reason": "misspelt"}, headers=viewer
            )
            assert by_viewer.status_code == 403
            on_intake = await client.post(
                f"/api/v1/certificates/{first.certificate_number}/reissue",
                json={"corrected_name": "Sok Dara", "reason": "misspelt"},
                headers=publisher,
            )
            assert on_intake.status_code in (404, 405), "intake re-issues nothing"
            bad = await client.post(
                reissue, json={"corrected_name": "<b>", "reason": "misspelt"}, headers=publisher
            )
            assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "corrected_name"
            accepted = await client.post(
                reissue,
                json={"corrected_name": "Sok Dara", "reason": "name misspelt on the sheet"},
                headers=publisher,
            )
            assert accepted.status_code == 202, accepted.text
            [audited] = await db.audit_events.find({"action": "certificate.reissue_requested"}).to_list(None)
            assert audited["object_id"] == first.certificate_number and "Sok" not in str(audited)
            second = (await collect(issued, 1, timeout=30))[0].data
            assert second.replaces == first.certificate_number
            assert second.certificate_number != first.certificate_number
            assert second.pledge_id == first.pledge_id and second.channels == first.channels
            deadline = time.monotonic() + 10
            old: dict[str, Any] = {}
            while time.monotonic() < deadline:
                old = (await client.get(f"/api/v1/certificates/{first.certificate_number}")).json()
                if old["state"] == "replaced":
                    break
                await asyncio.sleep(0.1)
            assert old["state"] == "replaced" and old["replaced_by"] == second.certificate_number
            again = await client.post(
                reissue, json={"corrected_name": "Sok Dara", "reason": "twice"}, headers=publisher
            )
            assert again.status_code == 409
        stored = await db.certificates.find({"pledge_id": first.pledge_id}).sort("revision", 1).to_list(None)
        assert not [h for h in stored if "name" in h or "replaced_reason" in h], "sealed at rest"
        opener = Opener(service_env)
        try:
            history = [await open_fields(await opener.vault(), h) for h in stored]
            member = await open_fields(await opener.vault(), await db.members.find_one({"_id": "mb_7"}))
        finally:
            await opener.aclose()
        assert [(h["revision"], h["state"], h["name"]) for h in history] == [
            (1, "replaced", "Sok Daar"),
            (2, "valid", "Sok Dara"),
        ]
        assert history[0]["replaced_reason"] == "name misspelt on the sheet"
        assert member["name"] == "Sok Dara", "pledge-intake corrected the member's name too"
        assert [h["name"] for h in member["name_history"]] == ["Sok Dara"]
    finally:
        proc.terminate()


async def test_a_discreet_members_certificate_verifies_as_valid_only_also_once_reissued(
    rabbit: RabbitNode,
    service_env: dict[str, str],
    tmp_path: Path,
    issued: Any,
    intake: str,
    console: str,
    pledge_intake: Any,
    db: Any,
) -> None:
    """Discreet messages (issue #17): the public check of their certificate says only "valid" —
    no name (even one they chose to show), initials, date or replacement; an unknown number
    answers as always."""
    proc = renderer(service_env, tmp_path, "certificate-renderer.1")
    proc.wait_ready()
    await db.pledges.insert_one({"_id": "pl_test000008", "state": "recorded", "member_id": "mb_8"})
    await db.members.insert_one({"_id": "mb_8", "name": "Chan Sophea"})
    plain = recorded(8, "Chan Sophea")
    event = plain.model_copy(
        update={"data": plain.data.model_copy(update={"show_name_publicly": True, "discreet": True})}
    )
    shown = (
        "Chan Sophea",
        "C. S.",
        event.data.recorded_at.date().isoformat(),
        'id="signer"',
        'id="signed-on"',
    )

    async def only_valid(client: httpx.AsyncClient, number: str, other: str) -> None:
        answer = (await client.get(f"/api/v1/certificates/{number}")).json()
        assert answer == {
            "number": number,
            "state": "valid",
            "signer": None,
            "signed_on": None,
            "replaced_by": None,
        }
        for lang, valid in (("en", "This certificate is valid."), ("km", "មានសុពលភាព")):
            page = await client.get(f"/v/{number}?lang={lang}")
            assert page.status_code == 200 and 'data-state="valid"' in page.text and valid in page.text
            assert not [seen for seen in (*shown, other) if seen in page.text], page.text

    try:
        await publish(rabbit, [event])
        first = (await collect(issued, 1, timeout=30))[0].data
        publisher = bearer(await operator_token(db, Role.publisher, env=service_env))
        async with httpx.AsyncClient(base_url=intake) as client:
            await only_valid(client, first.certificate_number, "replaced")
            unknown = await client.get("/v/KCAP-2026-999999-ABCD")
            assert unknown.status_code == 404 and 'data-state="unknown"' in unknown.text
            accepted = await client.post(
                f"{console}/api/v1/operator/certificates/{first.certificate_number}/reissue",
                json={"corrected_name": "Chan Sopheap", "reason": "misspelt"},
                headers=publisher,
            )
            assert accepted.status_code == 202, accepted.text
            second = (await collect(issued, 1, timeout=30))[0].data
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                old = await db.certificates.find_one({"number": first.certificate_number})
                if old["state"] == "replaced":
                    break
                await asyncio.sleep(0.1)
            assert old["state"] == "replaced" and old["discreet"] is True
            await only_valid(client, first.certificate_number, second.certificate_number)
            await only_valid(client, second.certificate_number, first.certificate_number)
        assert (await db.certificates.find_one({"number": second.certificate_number}))["discreet"] is True
    finally:
        proc.terminate()
