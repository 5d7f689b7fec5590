"""Reading a collection another service owns: only through a declared read model.

Each collection has one writer (deploy/access.yml: its `readWrite`). A service that reads
someone else's collection declares, in its own `read_models.py`, what it reads — the collection
and a pydantic view of the fields it may see — and reads through that declaration only:

    class PledgeState(View):
        state: str
        member_id: str | None = None

    PLEDGES = ReadModel("pledges", PledgeState)

    found = await PLEDGES.find_one(db, {"_id": pledge_id})       # a PledgeState, or None

Every query projects to the view's fields and may filter and sort on those fields only (and
`_id`); anything else raises `UndeclaredField` before the database is asked. So a read of a
field nobody declared cannot happen quietly, the owner of a collection sees in one place who
depends on which of its fields (docs/read-models.md), and tests/deploy/test_read_models.py fails
when code touches a foreign collection outside its service's read models.

A view's field named `id` is the document's `_id`. A view keeps a sealed document's `sealed`
value as it is (declare `sealed: Any = None`); the reader opens it with its vault.

One reader needs whole documents by design: a member's export (a subject access request must
show everything held about the person, including fields added after the export was written).
Its read models use `WholeDocument` and name the fields they look documents up by (`by=`): the
lookups are still declared and checked, and docs/read-models.md shows the read as "whole document".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict

from shared.personal_data import SEALED, PersonalDataUnreadable, Vault, open_fields
from shared.storage import Document

ID = "_id"


class View(BaseModel):
    """Base of a read model's view: what a reader sees of one document (unknown fields are
    never asked for, so never present)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @classmethod
    def from_document(cls, doc: Document) -> Self:
        values = dict(doc)
        if ID in values:
            values["id"] = values.pop(ID)
        return cls.model_validate(values)


class WholeDocument(View):
    """Every field of the document (the member export only; see the module docstring)."""

    model_config = ConfigDict(extra="allow", frozen=True)


ViewT = TypeVar("ViewT", bound=View)


class UndeclaredField(Exception):
    """A query named a field its read model's view does not declare."""


OPERATORS_WITH_QUERIES = {"$and", "$or", "$nor"}


def _fields_of(filter_: Mapping[str, Any]) -> set[str]:
    """The top-level fields a filter looks at (inside $and/$or/$nor too)."""
    found: set[str] = set()
    for key, value in filter_.items():
        if key in OPERATORS_WITH_QUERIES:
            for part in value:
                found |= _fields_of(part)
        elif key.startswith("$"):
            raise UndeclaredField(f"query operator {key} is not allowed at the top of a read model's filter")
        else:
            found.add(key.split(".", 1)[0])
    return found


class ReadModel(Generic[ViewT]):
    """A declared read of `collection` (owned by another service) as `view`."""

    def __init__(self, collection: str, view: type[ViewT], by: tuple[str, ...] = ()) -> None:
        self.collection = collection
        self.view = view
        self.whole = issubclass(view, WholeDocument)
        self.fields = frozenset(ID if name == "id" else name for name in view.model_fields) | frozenset(by)
        self._projection: dict[str, int] | None = None  # a whole document
        if not self.whole:  # only the declared fields; none declared: only whether it exists
            declared = {name: 1 for name in sorted(self.fields)}
            self._projection = declared | ({} if ID in self.fields or not declared else {ID: 0}) or {ID: 1}

    def __repr__(self) -> str:
        return f"ReadModel({self.collection!r}, {self.view.__name__})"

    def check(self, filter_: Mapping[str, Any], sort: Sequence[tuple[str, int]] = ()) -> None:
        asked = _fields_of(filter_) | {name.split(".", 1)[0] for name, _ in sort}
        undeclared = asked - self.fields - {ID}
        if undeclared:
            raise UndeclaredField(
                f"{self!r} does not declare {', '.join(sorted(undeclared))}: add it to the view "
                "(and to docs/read-models.md) or ask the owner for an event instead"
            )

    async def find_one(
        self, db: Any, filter_: Mapping[str, Any], sort: Sequence[tuple[str, int]] = ()
    ) -> ViewT | None:
        self.check(filter_, sort)
        doc = await db[self.collection].find_one(dict(filter_), self._projection, sort=list(sort) or None)
        return None if doc is None else self.view.from_document(doc)

    async def find(
        self,
        db: Any,
        filter_: Mapping[str, Any],
        sort: Sequence[tuple[str, int]] = (),
        limit: int = 0,
    ) -> AsyncIterator[ViewT]:
        self.check(filter_, sort)
        cursor = db[self.collection].find(dict(filter_), self._projection)
        if sort:
            cursor = cursor.sort(list(sort))
        if limit:
            cursor = cursor.limit(limit)
        async for doc in cursor:
            yield self.view.from_document(doc)

    async def all(
        self,
        db: Any,
        filter_: Mapping[str, Any],
        sort: Sequence[tuple[str, int]] = (),
        limit: int = 0,
    ) -> list[ViewT]:
        return [found async for found in self.find(db, filter_, sort, limit)]

    async def count(self, db: Any, filter_: Mapping[str, Any]) -> int:
        self.check(filter_)
        return int(await db[self.collection].count_documents(dict(filter_)))

    async def exists(self, db: Any, filter_: Mapping[str, Any]) -> bool:
        self.check(filter_)
        return await db[self.collection].find_one(dict(filter_), {ID: 1}) is not None


async def opened(vault: Vault | None, found: ViewT | None) -> ViewT | None:
    """`found` with the fields its view declares put back from its `sealed` value (a view that
    reads a sealed document declares `sealed`); None when absent, or unreadable (its subject was
    erased, or the reader has no vault for it). A document stored plain passes as it is."""
    if found is None:
        return None
    sealed = getattr(found, SEALED, None)
    if sealed is None:
        return found
    try:
        fields = await open_fields(vault, {SEALED: sealed})
    except PersonalDataUnreadable:
        return None
    view = type(found)
    kept = {name: getattr(found, name) for name in found.model_fields_set if name != SEALED}
    return view.model_validate(kept | {k: v for k, v in fields.items() if k in view.model_fields})
