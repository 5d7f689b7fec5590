"""The MongoDB client (pymongo's native async API) and the few write patterns every service uses.

Create the client in a startup hook, one per process; never at import time. Data that must never
be lost (pledges, deliveries) is written through `durable()`: journaled, majority-acknowledged.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient, WriteConcern
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.settings import ServiceSettings

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
