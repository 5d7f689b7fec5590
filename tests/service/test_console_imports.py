"""Paper sign-up sheets imported through the console (real broker and Mongo-wire server): who may
import, what reaches pledge-intake (with the importing operator as `actor`), what is reported
back per row, that a file imported twice gives the same pledge ids, and the audit trail."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from services.console.permissions import Role
from services.console.routes.imports import COLUMNS, row_key
from shared.contracts.pledge import PledgeSubmitted
from shared.contracts.pledge_ids import derived_pledge_id, is_valid_pledge_id
from tests.service.conftest import SECRET
from tests.support.console import bearer, operator_token

IMPORT = "/api/v1/operator/imports/table"
TEMPLATE = "/api/v1/operator/imports/table/template"
HEADER = ",".join(COLUMNS)
SHEET = f"""{HEADER}
Sok Dara,US,en,email;post,dara@example.org,,1600 Pennsylvania Ave NW,Washington,,DC,20500,,no,yes,yes,yes
សុខ ចាន់ធី,KH,km,email;signal,chanthy@example.org,012 345 678,,,,,,,no,yes,no,yes
Keo Sina,KH,en,post,sina@example.org,,,,,,,,no,no,no,yes
,US,en,email,nobody@example.org,,,,,,,,no,no,no,yes
,,,,,,,,,,,,,,,
Sok  Dara,us,EN,email;post,DARA@example.org,,1600 Pennsylvania Ave NW,Washington,,DC,20500,,no,yes,yes,yes
"""


async def take_all(queue: Any, expected: int, timeout: float = 5.0) -> list[PledgeSubmitted]:
    """What pledge-intake would consume: `expected` events, then nothing more for a moment."""
    found: list[PledgeSubmitted] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            if len(found) >= expected:
                await asyncio.sleep(0.3)
                if await queue.get(no_ack=True, fail=False) is None:
                    return found
                raise AssertionError("more was handed over than expected")
            await asyncio.sleep(0.05)
            continue
        found.append(PledgeSubmitted.model_validate_json(message.body))
    raise AssertionError(f"{len(found)} of {expected} handed over")


async def operator_id(client: httpx.AsyncClient, token: str) -> str:
    me = await client.get("/api/v1/operator/me", headers=bearer(token))
    assert me.status_code == 200, me.text
    identity: str = me.json()["operator"]["id"]
    return identity


async def imports_audited(db: Any) -> list[dict[str, Any]]:
    return await db.audit_events.find({"action": "table.imported"}).sort("at", 1).to_list(None)


@pytest.mark.parametrize("role", [Role.editor, Role.viewer])
async def test_an_editor_or_viewer_may_neither_import_nor_fetch_the_template(
    console: str, submitted_queue: Any, db: Any, role: Role
) -> None:
    token = await operator_token(db, role)
    async with httpx.AsyncClient(base_url=console, headers=bearer(token)) as client:
        refused = await client.post(IMPORT, content=SHEET.encode())
        template = await client.get(TEMPLATE)
    assert refused.status_code == 403 and template.status_code == 403
    assert "Sok" not in refused.text
    assert await submitted_queue.get(no_ack=True, fail=False) is None, "nothing was handed over"
    assert await imports_audited(db) == []
    denied = await db.audit_events.find({"action": "permission.denied"}).to_list(None)
    assert {d["object_id"] for d in denied} == {"members.import"} and len(denied) == 2


async def test_without_valid_credentials_the_import_is_401(console: str, submitted_queue: Any) -> None:
    async with httpx.AsyncClient(base_url=console) as client:
        anonymous = await client.post(IMPORT, content=SHEET.encode())
        wrong = await client.post(IMPORT, content=SHEET.encode(), headers=bearer("sk_op_nope"))
        template = await client.get(TEMPLATE)
    assert (anonymous.status_code, wrong.status_code, template.status_code) == (401, 401, 401)
    assert await submitted_queue.get(no_ack=True, fail=False) is None


async def test_a_publisher_imports_good_rows_as_themselves_and_bad_rows_are_reported(
    console: str, submitted_queue: Any, db: Any
) -> None:
    token = await operator_token(db, Role.publisher)
    async with httpx.AsyncClient(base_url=console, headers=bearer(token)) as client:
        publisher = await operator_id(client, token)
        template = await client.get(TEMPLATE)
        response = await client.post(
            IMPORT, content=SHEET.encode(), headers={"Content-Type": "text/csv; charset=utf-8"}
        )
    assert template.status_code == 200 and template.headers["content-type"].startswith("text/csv")
    assert template.text.startswith(HEADER + "\n")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["rows"] == 5, "the blank row is skipped, not counted"
    assert [a["row"] for a in report["accepted"]] == [2, 3, 7]
    assert report["not_submitted"] == []
    problems = {(p["row"], e["field"]): e for p in report["rejected"] for e in p["errors"]}
    assert set(problems) == {(4, "channels"), (5, "name")}
    assert "Cambodia" in problems[(4, "channels")]["message"]
    assert problems[(5, "name")]["code"]

    ids = {a["row"]: a["pledge_id"] for a in report["accepted"]}
    assert ids[2] == ids[7], "the same signature, typed twice with other case and spacing, is one pledge"
    assert ids[2] != ids[3]
    secret = SECRET.encode()
    assert all(is_valid_pledge_id(secret, pledge_id) for pledge_id in ids.values())

    events = await take_all(submitted_queue, 3)
    assert [(e.data.pledge_id, e.data.table.row if e.data.table else None) for e in events] == [
        (ids[2], 2),
        (ids[3], 3),
        (ids[7], 7),
    ]
    for event in events:
        assert event.actor == publisher
        assert event.data.source == "table"
        assert event.data.table is not None and event.data.table.batch_id == report["batch_id"]
        assert event.data.consent.text_version == "pledge-consent-2026-11"
        assert event.correlation_id == event.data.pledge_id
    khmer = events[1].data
    assert khmer.name == "សុខ ចាន់ធី" and khmer.certificate_language == "km"
    assert khmer.contact.phone == "+85512345678" and khmer.channels == ["email", "signal"]
    assert khmer.alerts_opt_in and not khmer.sessions_opt_in
    assert events[0].data.contact.postal_address is not None

    [audited] = await imports_audited(db)
    assert audited["operator_id"] == publisher and audited["outcome"] == "ok"
    assert audited["object_type"] == "table_import" and audited["object_id"] == report["batch_id"]
    assert audited["detail"] == {
        "batch_id": report["batch_id"],
        "rows": 5,
        "accepted": 3,
        "rejected": 2,
        "not_submitted": 0,
    }


async def test_importing_the_same_file_twice_gives_the_same_pledge_ids_and_one_audit_event_each(
    console: str, submitted_queue: Any, db: Any
) -> None:
    token = await operator_token(db, Role.admin)
    async with httpx.AsyncClient(base_url=console, headers=bearer(token)) as client:
        first = await client.post(IMPORT, content=SHEET.encode())
        again = await client.post(IMPORT, content=SHEET.encode())
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json(), "same ids, same batch, same report"
    once = await take_all(submitted_queue, 6)
    assert [e.data.pledge_id for e in once[:3]] == [e.data.pledge_id for e in once[3:]]
    row_2 = "Sok Dara,US,en,email;post,dara@example.org,,1600 Pennsylvania Ave NW,Washington,,DC,20500,,no,yes,yes,yes"
    key = row_key(dict(zip(COLUMNS, row_2.split(","), strict=True)))
    assert once[0].data.pledge_id == derived_pledge_id(SECRET.encode(), "table", key)
    assert len(await imports_audited(db)) == 2


async def test_chunks_keep_their_file_row_numbers_and_batch(
    console: str, submitted_queue: Any, db: Any
) -> None:
    token = await operator_token(db, Role.publisher)
    lines = SHEET.splitlines()
    chunk = "\n".join([lines[0], *lines[3:5]]) + "\n"  # file rows 4 and 5
    async with httpx.AsyncClient(base_url=console, headers=bearer(token)) as client:
        response = await client.post(
            IMPORT, content=chunk.encode(), params={"first_row": 4, "batch": "sheets-42", "lang": "km"}
        )
    report = response.json()
    assert response.status_code == 200 and report["batch_id"] == "sheets-42"
    assert [p["row"] for p in report["rejected"]] == [4, 5]
    assert report["accepted"] == []
    messages = " ".join(e["message"] for p in report["rejected"] for e in p["errors"])
    assert any("\u1780" <= ch <= "\u17ff" for ch in messages), "messages in Khmer"
    assert await submitted_queue.get(no_ack=True, fail=False) is None


async def test_broker_down_answers_503_with_not_submitted_rows_and_audits_the_attempt(
    make_console: Any, dead_broker_url: str, db: Any
) -> None:
    token = await operator_token(db, Role.publisher)
    async with (
        make_console(wait_ready=False, amqp_url=dead_broker_url) as url,
        httpx.AsyncClient(base_url=url, headers=bearer(token)) as client,
    ):
        response = await client.post(IMPORT, content=SHEET.encode())
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    report = response.json()
    assert report["accepted"] == [] and report["not_submitted"] == [2, 3, 7]
    assert sorted(p["row"] for p in report["rejected"]) == [4, 5], "bad rows are still reported"
    [audited] = await imports_audited(db)
    assert audited["outcome"] == "failed"
    assert audited["detail"]["not_submitted"] == 3 and audited["detail"]["accepted"] == 0


async def test_unusable_csv_is_422_and_changes_nothing(console: str, submitted_queue: Any, db: Any) -> None:
    token = await operator_token(db, Role.publisher)
    async with httpx.AsyncClient(base_url=console, headers=bearer(token)) as client:
        latin1 = await client.post(
            IMPORT,
            content=f"{HEADER}\nChanthé,US,en,email,c@example.org,,,,,,,,no,no,no,yes\n".encode("latin-1"),
        )
        columns = await client.post(IMPORT, content=b"name,country,colour\nSok Dara,US,blue\n")
        bom = await client.post(IMPORT, content=b"\xef\xbb\xbf" + SHEET.encode())
    assert latin1.status_code == 422 and latin1.json()["detail"][0]["code"] == "encoding"
    assert columns.status_code == 422
    [problem] = columns.json()["detail"]
    assert problem["field"] == "header"
    assert "missing columns: channels, consent" in problem["message"]
    assert "unknown columns: colour" in problem["message"]
    assert bom.status_code == 200, "a byte-order mark (spreadsheet export) is fine"
    assert len(await imports_audited(db)) == 1, "only the import that read rows is audited"
    await take_all(submitted_queue, 3)


async def test_a_sheet_larger_than_the_consoles_default_body_limit_is_accepted(
    console: str, submitted_queue: Any, db: Any
) -> None:
    token = await operator_token(db, Role.publisher)
    blank_rows = ",,,,,,,,,,,,,,,\n" * 8000  # 128 KB: twice CONSOLE_MAX_BODY_BYTES
    async with httpx.AsyncClient(base_url=console, headers=bearer(token)) as client:
        response = await client.post(IMPORT, content=f"{HEADER}\n{blank_rows}".encode())
    assert response.status_code == 200, response.text[:300]
    assert response.json()["rows"] == 0


async def test_the_body_limit_is_the_configured_one_and_documented(
    make_console: Any, submitted_queue: Any, db: Any
) -> None:
    token = await operator_token(db, Role.publisher)
    async with (
        make_console(table_import_max_bytes=2048) as url,
        httpx.AsyncClient(base_url=url, headers=bearer(token)) as client,
    ):
        small = await client.post(IMPORT, content=SHEET.encode())
        large = await client.post(IMPORT, content=(SHEET + SHEET.split("\n", 1)[1] * 5).encode())
        spec = (await client.get("/openapi.json")).json()
    assert small.status_code == 200
    assert large.status_code == 413 and large.json()["detail"][0]["limit_bytes"] == 2048
    operation = spec["paths"][IMPORT]["post"]
    assert operation["x-body-limit-bytes"] == 2048
    assert operation["x-body-limit-setting"] == "table_import_max_bytes"
    assert "text/csv" in operation["requestBody"]["content"]
    async with (  # a limit configured above the default is the limit too
        make_console(table_import_max_bytes=6 * 1024 * 1024) as url,
        httpx.AsyncClient(base_url=url, headers=bearer(token)) as client,
    ):
        above_default = await client.post(IMPORT, content=b"name,country\n" + b"x" * (5 * 1024 * 1024 + 1))
        too_large = await client.post(IMPORT, content=b"x" * (6 * 1024 * 1024 + 1))
    assert above_default.status_code == 422, above_default.text  # read, and refused for its columns
    assert too_large.status_code == 413
    assert TEMPLATE in spec["paths"]
