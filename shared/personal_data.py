"""Personal data at rest: one data key per member (crypto-shredding) and keyed blind indexes.

Why explicit client-side field-level encryption (pymongo + pymongocrypt/libmongocrypt):
- it is MongoDB's own, kept library for this: AEAD_AES_256_CBC_HMAC_SHA_512 values (BSON binary
  subtype 6) that carry the id of their data key, data keys kept in an ordinary collection
  (`key_vault`) and wrapped by a master key from a KMS (AWS, Azure, GCP, KMIP) or, locally, a
  96-byte "local" key from the environment;
- *explicit* encryption needs no MongoDB Enterprise or Atlas feature (automatic encryption and
  Queryable Encryption do), so it works on Community, on SecantusDB in tests, and on any replica set;
- one data key per member makes erasure cheap and complete: deleting the key (`forget`) leaves
  every copy of their data unreadable, backups and dead-lettered messages included;
- master-key rotation only rewraps the data keys (`rewrap_many_data_key`): no data is rewritten.
`cryptography`'s AES-GCM with our own key table would work too, but then key wrapping, KMS
clients, the key cache and rotation would be ours to write and review.

Exact-match lookups (email, phone, PSID) never use the ciphertext (random, and per member):
they use a blind index, `vault.blind(kind, normalised_value)` (or `blind_index()` in a process
that only looks up; `lookup_key()` for a lookup document's `_id`): an HMAC-SHA256 under a
separate index key, which reveals only "same value" (like deterministic encryption) and survives
master-key rotation. "Member" is whoever the data is about: a member's id, or for a session
registrant who is not a member, their registration id (a key of their own).

Settings (every process that reads or writes personal data; `.env.example` documents them):

    SAMLENG_MASTER_KEY            base64 of 96 random bytes: the "local" KMS provider's master key
                                  (`make run` generates one into .run/secrets.env)
    SAMLENG_PREVIOUS_MASTER_KEY   during a rotation only: the master key being replaced
    SAMLENG_BLIND_INDEX_KEY       the HMAC key of the blind indexes (any long random string)
    SAMLENG_KMS_PROVIDER          `local` (default) or a KMS: `aws`, `azure`, `gcp`, `kmip`
    SAMLENG_KMS_CREDENTIALS       that KMS's credentials as JSON (e.g. {"accessKeyId": ...})
    SAMLENG_KMS_MASTER_KEY        the KMS key that wraps data keys, as JSON (e.g. {"region": ...,
                                  "key": "arn:aws:kms:..."})
    SAMLENG_ENCRYPTION_REQUIRED   true in production: a process without keys refuses to start
                                  (unset: it warns and stores personal data in plain text)

Master-key rotation (local provider; with a KMS, set the new SAMLENG_KMS_MASTER_KEY everywhere and
run step 3: the KMS still unwraps with the old key, and every data key is rewrapped):
1. generate a new key (`python -c "import base64,os;print(base64.b64encode(os.urandom(96)).decode())"`);
2. give every process SAMLENG_PREVIOUS_MASTER_KEY=<old> and SAMLENG_MASTER_KEY=<new> and roll
   them out: they read data keys wrapped by either, and wrap new ones with the new key;
3. `python -m shared.personal_data rewrap`: every data key still wrapped by the old master key
   is rewrapped by the new one (one pass over `key_vault`, no personal data rewritten);
4. remove SAMLENG_PREVIOUS_MASTER_KEY everywhere and destroy the old key.
Each local master key is its own named KMS provider, `local:<fingerprint>` (the first 12 hex
digits of its SHA-256), so a data key names the master key that wraps it.

Contacts (`member_keys` in pledge-intake, and every process that looks a member up there):
`contact_key(kind, value)` is the one way to name a contact: `bx:<kind>:<blind index>` of the
normalised value (email casefolded, phone as given in E.164, PSID as is). Without
SAMLENG_BLIND_INDEX_KEY it is the plain `<kind>:<value>` of before (with the warning above; refused
when SAMLENG_ENCRYPTION_REQUIRED is set); pledge-intake rewrites such plain keys into blinded ones
when it starts with a key (services/pledge_intake/store.py `blind_plain_keys`).

Erasure: `forget(member_id)` deletes the member's data key. Processes that used it keep it in
libmongocrypt's cache for up to `KEY_CACHE_MS` (60 s) and may still decrypt in that window;
after it, and in every new process, their data is unreadable.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import sys
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal
from uuid import UUID

import bson
import bson.errors
import structlog
from bson.binary import STANDARD, Binary
from bson.codec_options import CodecOptions
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.asynchronous.encryption import AsyncClientEncryption
from pymongo.encryption_shared import Algorithm
from pymongo.errors import DuplicateKeyError, EncryptionError

__all__ = [
    "KEY_VAULT",
    "SEALED",
    "BlindIndex",
    "EncryptionNotConfigured",
    "PersonalDataSettings",
    "PersonalDataUnreadable",
    "Vault",
    "alt_name",
    "blind_index",
    "contact_index",
    "contact_key",
    "contact_key_kind",
    "lookup_key",
    "normalise_contact",
    "open_bytes",
    "open_fields",
    "open_vault",
    "seal_bytes",
    "seal_fields",
    "unsubscribe_key",
]

KEY_VAULT = "key_vault"
KEY_CACHE_MS = 60_000
MEMBER_KEY_CACHE = 100_000
RANDOM = Algorithm.AEAD_AES_256_CBC_HMAC_SHA_512_Random
KmsProvider = Literal["local", "aws", "azure", "gcp", "kmip"]

_log = structlog.stdlib.get_logger("samleng.personal_data")


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class PersonalDataSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    master_key: SecretStr | None = Field(
        default=None,
        validation_alias=_env("SAMLENG_MASTER_KEY"),
        description="base64 of 96 random bytes: the local master key that wraps every member's data key.",
    )
    previous_master_key: SecretStr | None = Field(
        default=None,
        validation_alias=_env("SAMLENG_PREVIOUS_MASTER_KEY"),
        description="During a master-key rotation only: the key being replaced.",
    )
    blind_index_key: SecretStr | None = Field(
        default=None,
        validation_alias=_env("SAMLENG_BLIND_INDEX_KEY"),
        description="HMAC key of the blind indexes used for exact-match lookups (email, phone, PSID).",
    )
    kms_provider: KmsProvider = Field(default="local", validation_alias=_env("SAMLENG_KMS_PROVIDER"))
    kms_credentials: SecretStr | None = Field(
        default=None,
        validation_alias=_env("SAMLENG_KMS_CREDENTIALS"),
        description="JSON credentials of the KMS named by SAMLENG_KMS_PROVIDER (not for `local`).",
    )
    kms_master_key: str | None = Field(
        default=None,
        validation_alias=_env("SAMLENG_KMS_MASTER_KEY"),
        description="JSON of the KMS key that wraps data keys (e.g. AWS region and key ARN).",
    )
    required: bool = Field(
        default=False,
        validation_alias=_env("SAMLENG_ENCRYPTION_REQUIRED"),
        description="Refuse to start without keys (production); otherwise warn and store plain text.",
    )

    @property
    def configured(self) -> bool:
        if self.kms_provider == "local":
            return self.master_key is not None and self.blind_index_key is not None
        return self.kms_credentials is not None and self.blind_index_key is not None


class EncryptionNotConfigured(RuntimeError):
    """SAMLENG_ENCRYPTION_REQUIRED is set but the keys are missing."""


class PersonalDataUnreadable(Exception):
    """The data key is gone (the member was forgotten) or the master key is not the one that wraps it."""


def _local_key(secret: SecretStr) -> tuple[str, bytes]:
    key = base64.b64decode(secret.get_secret_value(), validate=True)
    if len(key) != 96:
        raise ValueError("SAMLENG_MASTER_KEY must be base64 of exactly 96 bytes")
    return f"local:{hashlib.sha256(key).hexdigest()[:12]}", key


def kms_setup(settings: PersonalDataSettings) -> tuple[dict[str, Any], str, dict[str, Any] | None]:
    """(kms_providers, the provider that wraps new data keys, its master key) from the settings."""
    if settings.kms_provider == "local":
        assert settings.master_key is not None
        name, key = _local_key(settings.master_key)
        providers: dict[str, Any] = {name: {"key": key}}
        if settings.previous_master_key is not None:
            old_name, old_key = _local_key(settings.previous_master_key)
            providers[old_name] = {"key": old_key}
        return providers, name, None
    assert settings.kms_credentials is not None
    credentials = json.loads(settings.kms_credentials.get_secret_value())
    master = json.loads(settings.kms_master_key) if settings.kms_master_key else None
    return {settings.kms_provider: credentials}, settings.kms_provider, master


class BlindIndex:
    """HMAC-SHA256 of a normalised value under the index key: equal values, equal indexes; nothing
    else learnt without the key. Stable across processes and master-key rotations."""

    def __init__(self, key: SecretStr) -> None:
        self._key = key.get_secret_value().encode()

    def __call__(self, kind: str, normalised: str) -> str:
        return hmac.new(self._key, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()


def blind_index(settings: PersonalDataSettings | None = None) -> BlindIndex | None:
    """The blind index of a process that only needs lookups (no vault), or None when not configured."""
    settings = settings or PersonalDataSettings()
    return BlindIndex(settings.blind_index_key) if settings.blind_index_key is not None else None


class IndexedKeyLookups:
    """The key vault as libmongocrypt reads it, answering its key fetch from the indexes.

    libmongocrypt asks for data keys with `{"$or": [{"_id": {"$in": ids}}, {"keyAltNames":
    {"$in": names}}]}`. MongoDB answers that from the `_id` and `keyAltNames` indexes; the local
    Mongo-wire server (SecantusDB) scans the collection for any `$or` (measured here: 59 ms per
    fetch with 2,000 keys, against 0.8 ms by `_id`), i.e. one scan per member on first use. This
    asks the two halves separately (same documents); everything else goes to the collection.
    `Vault` installs it in pymongo's key-vault callbacks; a test pins that it is installed.
    """

    def __init__(self, collection: Any) -> None:
        self._collection = collection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    def find(self, filter: Any = None, *args: Any, **kwargs: Any) -> Any:
        halves = _key_fetch(filter)
        if halves is None or args or kwargs:
            return self._collection.find(filter, *args, **kwargs)
        return _FoundKeys(self._collection, *halves)


def _key_fetch(filter: Any) -> tuple[list[Any], list[Any]] | None:
    """(ids, alt names) of libmongocrypt's key fetch filter, or None for any other filter."""
    try:
        query = bson.decode(bytes(filter.raw if hasattr(filter, "raw") else bson.encode(filter)))
        first, second = query["$or"]
        if set(query) != {"$or"} or set(first) != {"_id"} or set(second) != {"keyAltNames"}:
            return None
        return list(first["_id"]["$in"]), list(second["keyAltNames"]["$in"])
    except (KeyError, TypeError, ValueError, bson.errors.BSONError):
        return None


class _FoundKeys:
    """What `find()` gives libmongocrypt's `fetch_keys`: `async with ... as cursor: async for`."""

    def __init__(self, collection: Any, ids: list[Any], names: list[Any]) -> None:
        self._collection, self._ids, self._names = collection, ids, names
        self._docs: Iterator[Any] = iter(())

    async def __aenter__(self) -> _FoundKeys:
        found: dict[bytes, Any] = {}
        for query in ({"_id": {"$in": self._ids}}, {"keyAltNames": {"$in": self._names}}):
            if next(iter(query.values()))["$in"]:
                async for doc in self._collection.find(query):
                    found.setdefault(bson.encode({"i": doc["_id"]}), doc)
        self._docs = iter(found.values())
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __aiter__(self) -> _FoundKeys:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._docs)
        except StopIteration:
            raise StopAsyncIteration from None


def lookup_key(index: BlindIndex | None, kind: str, normalised: str) -> str:
    """The `_id` of an exact-match lookup document (e.g. `member_keys`): `<kind>:<blind index>`;
    `<kind>:<value>` when no index key is configured (encryption off)."""
    return f"{kind}:{index(kind, normalised) if index is not None else normalised}"


def unsubscribe_key(vault: Vault, token: str) -> str:
    """How a member's page token (`unsubscribe_token`, sealed with the member) is looked up: its
    blind index, stored plain as `members.unsubscribe_key`."""
    return lookup_key(vault.blind, "unsubscribe", token)


CONTACT_KEY_VERSION = "bx"  # blinded contact keys: never confused with the plain `<kind>:` form
CONTACT_KINDS = ("email", "phone", "psid")
_CONFIGURED: list[BlindIndex | None] = []  # the process's contact index, once resolved


def normalise_contact(kind: str, value: str) -> str:
    """The form a contact is compared in: email casefolded; phone (E.164) and PSID as given."""
    return value.casefold() if kind == "email" else value


def contact_index(settings: PersonalDataSettings | None = None) -> BlindIndex | None:
    """The blind index of contact keys: None (with a warning) when SAMLENG_BLIND_INDEX_KEY is not
    set and encryption is not required; EncryptionNotConfigured when it is required."""
    settings = settings or PersonalDataSettings()
    if settings.blind_index_key is not None:
        return BlindIndex(settings.blind_index_key)
    if settings.required:
        raise EncryptionNotConfigured(
            "SAMLENG_ENCRYPTION_REQUIRED is set: give this process SAMLENG_BLIND_INDEX_KEY"
        )
    _log.warning("contact keys are plain: SAMLENG_BLIND_INDEX_KEY not set")
    return None


def configured_contact_index() -> BlindIndex | None:
    """`contact_index()` of this process's settings, resolved once."""
    if not _CONFIGURED:
        _CONFIGURED.append(contact_index())
    return _CONFIGURED[0]


class _Configured:
    pass


CONFIGURED = _Configured()


def contact_key(kind: str, value: str, index: BlindIndex | _Configured | None = CONFIGURED) -> str:
    """A contact's lookup key (e.g. `member_keys._id`): `bx:<kind>:<HMAC of the normalised value>`,
    or `<kind>:<normalised value>` without an index key. `index` defaults to the process's."""
    normalised = normalise_contact(kind, value)
    if isinstance(index, _Configured):
        index = configured_contact_index()
    if index is None:
        return f"{kind}:{normalised}"
    return f"{CONTACT_KEY_VERSION}:{kind}:{index(kind, normalised)}"


def contact_key_kind(key: str) -> str:
    """The kind (`email`, `phone`, `psid`) of a contact key, blinded or plain."""
    head, _, rest = key.partition(":")
    return rest.partition(":")[0] if head == CONTACT_KEY_VERSION else head


def alt_name(member_id: str) -> str:
    return f"member:{member_id}"


class Vault:
    """Per-member data keys in `key_vault`, explicit encryption with them, and blind indexes."""

    def __init__(self, db: AsyncDatabase[Any], settings: PersonalDataSettings) -> None:
        providers, self.provider, self._master_key = kms_setup(settings)
        assert settings.blind_index_key is not None
        self.blind = BlindIndex(settings.blind_index_key)
        self.keys: AsyncCollection[Any] = db[KEY_VAULT]
        self._encryption: AsyncClientEncryption[Any] = AsyncClientEncryption(
            providers,
            f"{db.name}.{KEY_VAULT}",
            db.client,
            CodecOptions(uuid_representation=STANDARD, tz_aware=True),
            key_expiration_ms=KEY_CACHE_MS,
        )
        callbacks = getattr(self._encryption, "_io_callbacks", None)
        if callbacks is not None and getattr(callbacks, "key_vault_coll", None) is not None:
            callbacks.key_vault_coll = IndexedKeyLookups(callbacks.key_vault_coll)
        self._member_keys: OrderedDict[str, UUID] = OrderedDict()

    @classmethod
    async def open(cls, db: AsyncDatabase[Any], settings: PersonalDataSettings) -> Vault:
        vault = cls(db, settings)
        await vault.keys.create_index(
            "keyAltNames", unique=True, partialFilterExpression={"keyAltNames": {"$exists": True}}
        )
        # The unique index above is partial (as MongoDB documents for key vaults); the local
        # Mongo-wire server does not plan lookups on partial indexes (28 ms per lookup with 2,000
        # keys, 0.6 ms with this one). Key vault writes are rare, so the second index is cheap.
        await vault.keys.create_index("keyAltNames", name="keyAltNames_lookup")
        return vault

    async def close(self) -> None:
        await self._encryption.close()

    # ---- keys ---------------------------------------------------------------------------------

    def _remember(self, member_id: str, key_id: UUID) -> UUID:
        self._member_keys[member_id] = key_id
        self._member_keys.move_to_end(member_id)
        while len(self._member_keys) > MEMBER_KEY_CACHE:
            self._member_keys.popitem(last=False)
        return key_id

    async def key_for(self, member_id: str) -> UUID:
        """The member's data key, created on first use; safe when processes race to create it
        (the unique index on `keyAltNames` lets one win, the others read the winner's)."""
        cached = self._member_keys.get(member_id)
        if cached is not None:
            return cached
        name = alt_name(member_id)
        found = await self.keys.find_one({"keyAltNames": name}, {"_id": 1})
        if found is not None:
            return self._remember(member_id, _uuid(found["_id"]))
        return await self._create_key(member_id)

    async def _create_key(self, member_id: str, aliases: Iterable[str] = ()) -> UUID:
        """A new data key named for the member (and for `aliases`, which share it); a racing
        process's key wins. An alias that already has a key of its own is left out."""
        name = alt_name(member_id)
        names = list(dict.fromkeys([name, *(alt_name(a) for a in aliases)]))
        try:
            created = await self._encryption.create_data_key(
                self.provider, master_key=self._master_key, key_alt_names=names
            )
        except EncryptionError as error:
            if not isinstance(error.cause, DuplicateKeyError):
                raise
            found = await self.keys.find_one({"keyAltNames": name}, {"_id": 1})
            if found is None and len(names) > 1:  # an alias is taken, not the name: without them
                return await self._create_key(member_id)
            assert found is not None
            return self._remember(member_id, _uuid(found["_id"]))
        return self._remember(member_id, _uuid(created))

    async def keys_for(self, member_ids: Iterable[str]) -> None:
        """Load many members' keys with one query (a fan-out), creating the missing ones."""
        wanted = {m for m in member_ids if m not in self._member_keys}
        if not wanted:
            return
        names = {alt_name(m): m for m in wanted}
        async for doc in self.keys.find({"keyAltNames": {"$in": list(names)}}, {"_id": 1, "keyAltNames": 1}):
            for name in doc.get("keyAltNames", []):
                if name in names:
                    self._remember(names[name], _uuid(doc["_id"]))
        for member_id in wanted - set(self._member_keys):
            await self.key_for(member_id)

    async def forget(self, member_id: str) -> bool:
        """Crypto-shredding: delete the member's data key; everything encrypted with it becomes
        unreadable (after at most KEY_CACHE_MS in processes that had it cached)."""
        self._member_keys.pop(member_id, None)
        result = await self.keys.delete_many({"keyAltNames": alt_name(member_id)})
        return result.deleted_count > 0

    async def rewrap(self) -> int:
        """Rewrap every data key not wrapped by the current master key (rotation, step 3)."""
        local = self.provider.startswith("local:")  # a KMS keeps its name: rewrap every key
        result = await self._encryption.rewrap_many_data_key(
            {"masterKey.provider": {"$ne": self.provider}} if local else {},
            provider=self.provider,
            master_key=self._master_key,
        )
        return result.bulk_write_result.modified_count if result.bulk_write_result else 0

    # ---- values -------------------------------------------------------------------------------

    async def encrypt(self, member_id: str, value: Any, aliases: Iterable[str] = ()) -> Binary:
        """Any BSON value (a string, a document) under the member's key (random: not searchable).

        The key is named by its alt name, so libmongocrypt reads it (one indexed read, then cached
        for KEY_CACHE_MS, and found by any of its names) without a lookup of ours; a member without
        a key yet gets one first (shared with `aliases`)."""
        name = alt_name(member_id)
        try:
            return await self._encryption.encrypt(value, RANDOM, key_alt_name=name)
        except EncryptionError:
            if await self.keys.find_one({"keyAltNames": name}, {"_id": 1}) is None:
                self._member_keys.pop(member_id, None)  # forgotten since we cached it, or never created
                await self._create_key(member_id, aliases)
        # the key exists now (ours, or one a racing process created): anything else fails again here
        return await self._encryption.encrypt(value, RANDOM, key_alt_name=name)

    async def decrypt(self, value: Binary) -> Any:
        try:
            return await self._encryption.decrypt(value)
        except EncryptionError as error:
            raise PersonalDataUnreadable(
                "personal data unreadable: member forgotten or wrong master key"
            ) from error

    async def seal(self, member_id: str, fields: Mapping[str, Any], aliases: Iterable[str] = ()) -> str:
        """A document encrypted for the member, as text (base64) for a message or a JSON field;
        `aliases` share the member's key if this creates it (`_create_key`)."""
        return base64.b64encode(bytes(await self.encrypt(member_id, dict(fields), aliases))).decode()

    async def unseal(self, sealed: str) -> dict[str, Any]:
        opened = await self.decrypt(Binary(base64.b64decode(sealed), 6))
        assert isinstance(opened, dict)
        return opened


def _uuid(value: Any) -> UUID:
    if isinstance(value, UUID):
        return value
    assert isinstance(value, Binary)
    return value.as_uuid(STANDARD)


async def open_vault(db: AsyncDatabase[Any], settings: PersonalDataSettings | None = None) -> Vault | None:
    """The process's vault, or None (with a warning) when no keys are configured and they are
    not required."""
    settings = settings or PersonalDataSettings()
    if not settings.configured:
        if settings.required:
            raise EncryptionNotConfigured(
                "SAMLENG_ENCRYPTION_REQUIRED is set: give this process SAMLENG_MASTER_KEY (or a KMS) "
                "and SAMLENG_BLIND_INDEX_KEY"
            )
        _log.warning("personal data encryption is off: SAMLENG_MASTER_KEY / SAMLENG_BLIND_INDEX_KEY not set")
        return None
    return await Vault.open(db, settings)


SEALED = "sealed"
"""The field of a stored document that holds its personal fields, encrypted together as one
BSON document under the subject's data key (`seal_fields`)."""


async def seal_fields(
    vault: Vault | None, subject: str, doc: Mapping[str, Any], fields: Iterable[str]
) -> dict[str, Any]:
    """`doc` with its personal `fields` (top-level keys; absent ones are skipped) moved into one
    encrypted value, `doc["sealed"]`, under `subject`'s data key (a member id, or the id of whatever
    the data is about before a member exists: a pledge, a registration, a subscription).

    Without a vault (encryption off) the document is returned as it is. A document that is
    already sealed keeps its other sealed fields: the new values are merged into them, so an
    update is `seal_fields(vault, subject, await open_fields(vault, stored) | changes, FIELDS)`.
    Nothing stored sealed can be queried: look things up by ids or by a blind index."""
    out = dict(doc)
    if vault is None:
        return out
    personal: dict[str, Any] = {}
    previous = out.pop(SEALED, None)
    if previous is not None:
        personal.update(await _open_sealed(vault, previous))
    for name in fields:
        if name in out:
            personal[name] = out.pop(name)
    if personal:
        out[SEALED] = await vault.encrypt(subject, personal)
    return out


async def open_fields(vault: Vault | None, doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document with its sealed fields back in place (`seal_fields`' inverse); a plain
    document is returned as it is. Raises PersonalDataUnreadable when the subject was forgotten
    (erased) or this process has no vault for a sealed document."""
    out = dict(doc)
    sealed = out.pop(SEALED, None)
    if sealed is None:
        return out
    if vault is None:
        raise PersonalDataUnreadable("sealed personal data but no master key in this process")
    out.update(await _open_sealed(vault, sealed))
    return out


async def opened_document(vault: Vault | None, doc: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A stored document with its sealed fields in place (plain ones pass through); None when
    absent or unreadable (its subject was erased)."""
    if doc is None:
        return None
    try:
        return await open_fields(vault, doc)
    except PersonalDataUnreadable:
        return None


async def _open_sealed(vault: Vault, sealed: Any) -> dict[str, Any]:
    opened = await vault.decrypt(sealed if isinstance(sealed, Binary) else Binary(bytes(sealed), 6))
    if not isinstance(opened, dict):
        raise PersonalDataUnreadable("a sealed value that is not a document")
    return opened


async def seal_bytes(vault: Vault | None, subject: str, data: bytes) -> bytes:
    """A file's bytes (a certificate PDF or PNG) encrypted under `subject`'s key; unchanged
    without a vault. Store with a marker (e.g. GridFS metadata `sealed: true`) to know to open it."""
    if vault is None:
        return data
    return bytes(await vault.encrypt(subject, Binary(data)))


async def open_bytes(vault: Vault | None, data: bytes) -> bytes:
    """`seal_bytes`' inverse; PersonalDataUnreadable when forgotten or without a vault."""
    if vault is None:
        raise PersonalDataUnreadable("sealed file but no master key in this process")
    opened = await vault.decrypt(Binary(data, 6))
    if not isinstance(opened, bytes):
        raise PersonalDataUnreadable("a sealed file that is not bytes")
    return opened


async def _rewrap_command() -> int:
    from shared.settings import ServiceSettings
    from shared.storage import create_client, database

    service = ServiceSettings()
    settings = PersonalDataSettings()
    if not settings.configured:
        print("no master key configured (SAMLENG_MASTER_KEY / SAMLENG_BLIND_INDEX_KEY)", file=sys.stderr)
        return 2
    client = create_client(service)
    try:
        vault = await Vault.open(database(client, service), settings)
        count = await vault.rewrap()
        await vault.close()
    finally:
        await client.close()
    print(f"rewrapped {count} data key(s) with {vault.provider}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.personal_data")
    parser.add_argument("command", choices=["rewrap"], help="rewrap: finish a master-key rotation")
    parser.parse_args(argv)
    return asyncio.run(_rewrap_command())


if __name__ == "__main__":
    raise SystemExit(main())
