"""The MongoDB client (pymongo's native async API) and the few write patterns every service uses.

Create the client in a startup hook, one per process; never at import time. Data that must never
be lost (pledges, deliveries) is written through `durable()`: journaled, majority-acknowledged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from bson import Binary, Int64, ObjectId
from pymongo import ASCENDING, AsyncMongoClient, WriteConcern
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from shared.settings import ServiceSettings

log = structlog.stdlib.get_logger("samleng.storage")

Document = dict[str, Any]


def create_client(settings: ServiceSettings) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(
        settings.mongodb_uri.get_secret_value(),
        tz_aware=True,
        uuidRepresentation="standard",
        appname=settings.service_name,
        serverSelectionTimeoutMS=5000,
    )


def database(client: AsyncMongoClient[Document], settings: ServiceSettings) -> AsyncDatabase[Document]:
    return client[settings.mongodb_database]


def durable(collection: AsyncCollection[Document]) -> AsyncCollection[Document]:
    """The same collection with writes that survive a crash right after they are acknowledged."""
    return collection.with_options(write_concern=WriteConcern(w="majority", j=True))


async def insert_once(collection: AsyncCollection[Document], document: Document) -> bool:
    """Insert unless a document with the same unique key exists; True if this call inserted it.

    This is how handlers make redelivered or duplicated messages take effect once: the key
    (`_id` or a unique index) is derived from the message, not generated.
    """
    try:
        await collection.insert_one(document)
    except DuplicateKeyError:
        return False
    return True


async def ping(client: AsyncMongoClient[Document]) -> None:
    await client.admin.command("ping")


DATABASE_WAIT_REPORT_SECONDS = 30.0


async def wait_for_database(client: AsyncMongoClient[Document], timeout: float = 120.0) -> None:
    """Wait until the database answers, so that services may start before it (as `make run`,
    compose and Kubernetes do). Waiting is said once at info level (and again every 30 s); after
    `timeout` seconds the last error is raised and the process exits for its supervisor."""
    started = time.monotonic()
    said_at: float | None = None
    while True:
        try:
            await client.admin.command("ping")
            return
        except PyMongoError as error:
            now = time.monotonic()
            if now - started >= timeout:
                raise ConnectionError(
                    f"database not reachable after {timeout:.0f}s: {type(error).__name__}"
                ) from error
            if said_at is None or now - said_at >= DATABASE_WAIT_REPORT_SECONDS:
                log.info("waiting for database", waited_s=round(now - started), error=type(error).__name__)
                said_at = now
        await asyncio.sleep(1.0)


GRIDFS_CHUNK_BYTES = 255 * 1024  # the GridFS default, as pymongo writes it


@dataclass(frozen=True)
class StoredFile:
    filename: str
    data: bytes
    metadata: Document


class FileStore:
    """Files in the GridFS layout (`<bucket>.files` + `<bucket>.chunks`, per the GridFS spec), read
    back with `gridfs.AsyncGridFSBucket` as usual. Writing several files costs two inserts in all
    (their chunks, then their file documents, which make them visible), where pymongo's
    `upload_from_stream` costs four round trips per file — one of them a `find_one()` without a
    filter on the chunks collection, which the local Mongo-wire server answers by decoding every
    chunk it holds (it made certificate storage slower with every certificate stored)."""

    def __init__(self, db: AsyncDatabase[Document], bucket: str) -> None:
        self.files = durable(db[f"{bucket}.files"])
        self.chunks = durable(db[f"{bucket}.chunks"])

    async def ensure_indexes(self) -> None:
        """The indexes GridFS readers and writers expect (created once, at start)."""
        await self.files.create_index([("filename", ASCENDING), ("uploadDate", ASCENDING)])
        await self.chunks.create_index([("files_id", ASCENDING), ("n", ASCENDING)], unique=True)

    async def put(self, files: Sequence[StoredFile]) -> list[ObjectId]:
        now = datetime.now(tz=UTC)
        ids = [ObjectId() for _ in files]
        chunks: list[Document] = []
        documents: list[Document] = []
        for file_id, stored in zip(ids, files, strict=True):
            data = stored.data
            for n, start in enumerate(range(0, len(data), GRIDFS_CHUNK_BYTES)):
                chunks.append(
                    {"files_id": file_id, "n": n, "data": Binary(data[start : start + GRIDFS_CHUNK_BYTES])}
                )
            documents.append(
                {
                    "_id": file_id,
                    "length": Int64(len(data)),
                    "chunkSize": GRIDFS_CHUNK_BYTES,
                    "uploadDate": now,
                    "filename": stored.filename,
                    "metadata": stored.metadata,
                }
            )
        if chunks:
            await self.chunks.insert_many(chunks)
        await self.files.insert_many(documents)
        return ids

    async def delete(self, file_ids: Sequence[ObjectId]) -> None:
        await self.files.delete_many({"_id": {"$in": list(file_ids)}})
        await self.chunks.delete_many({"files_id": {"$in": list(file_ids)}})
