"""Declared read models (shared/read_models.py) against the real Mongo-wire server: a reader sees
only its view's fields, and a query on a field the view does not declare fails before the
database is asked."""

from __future__ import annotations

from typing import Any

import pytest

from shared.read_models import ReadModel, UndeclaredField, View


class AlertHeadline(View):
    id: str
    number: str
    state: str = "published"


ALERTS = ReadModel("alerts", AlertHeadline)


@pytest.fixture
async def alerts(db: Any) -> Any:
    await db.alerts.insert_many(
        [
            {
                "_id": "al_1",
                "number": "UA 1/26",
                "state": "closed",
                "officials": [{"email": "x@gov.example"}],
            },
            {"_id": "al_2", "number": "UA 2/26", "officials": []},
        ]
    )
    return db


async def test_a_reader_sees_only_what_its_view_declares(alerts: Any) -> None:
    found = await ALERTS.find_one(alerts, {"_id": "al_1"})
    assert found == AlertHeadline(id="al_1", number="UA 1/26", state="closed")
    assert not hasattr(found, "officials")
    listed = await ALERTS.all(alerts, {"number": {"$in": ["UA 1/26", "UA 2/26"]}}, sort=[("number", -1)])
    assert [a.id for a in listed] == ["al_2", "al_1"]
    assert await ALERTS.count(alerts, {"state": "closed"}) == 1
    assert await ALERTS.exists(alerts, {"$or": [{"number": "UA 2/26"}, {"state": "x"}]})


@pytest.mark.parametrize(
    ("filter_", "sort"),
    [
        ({"officials.email": "x@gov.example"}, []),
        ({"$or": [{"number": "UA 1/26"}, {"officials": []}]}, []),
        ({}, [("officials", 1)]),
        ({"$where": "true"}, []),
    ],
)
async def test_a_query_on_an_undeclared_field_fails_before_the_database_is_asked(
    filter_: dict[str, Any], sort: list[tuple[str, int]]
) -> None:
    class Refusing:
        def __getitem__(self, name: str) -> Any:
            raise AssertionError("the database was asked")

    with pytest.raises(UndeclaredField):
        await ALERTS.find_one(Refusing(), filter_, sort)
