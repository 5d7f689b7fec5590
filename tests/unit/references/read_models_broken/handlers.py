"""A handler that reads another service's collection behind its read models' back (a fixture:
tests/deploy/test_read_models.py must flag both reads)."""

from typing import Any


async def totals(db: Any, alert_id: str) -> int:
    found = await db.alerts.find_one({"_id": alert_id}, {"officials": 1})
    return len(found["officials"]) + await db["deliveries"].count_documents({"correlation_id": alert_id})
