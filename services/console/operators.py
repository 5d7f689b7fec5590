"""Operator accounts (the console's `operators` collection) and their credentials.

Operators are staff, not members: their email is their login name. Passwords are hashed with
argon2id (argon2-cffi's defaults, RFC 9106's second recommended profile); the TOTP secret is
sealed under the operator's own data key (`shared.personal_data.seal_fields`) when the process has
a vault, else stored plain with the vault's warning.

An operator changes their own password (`password_problem` is the strength rule) and re-enrols
their second factor in two steps: `start_totp` keeps a new secret pending (sealed like the
current one) for TOTP_ENROLMENT_MINUTES; `confirm_totp` with a code of it makes it the secret,
and the old one stops working at once.
"""

from __future__ import annotations

import functools
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, Field
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.console.permissions import Role
from shared.contracts import utcnow
from shared.personal_data import Vault, open_fields, seal_fields
from shared.storage import Document

OPERATORS = "operators"
SCHEMA_VERSION = 1
TOTP_ISSUER = "Samleng console"
SEALED_FIELDS = ["totp_secret", "totp_pending_secret"]
MIN_PASSWORD_LENGTH = 12
TOTP_ENROLMENT_MINUTES = 15

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """What an unknown email's password is checked against (made once, on first use)."""
    return _hasher.hash(secrets.token_urlsafe(16))


class Operator(BaseModel):
    id: str
    email: str = Field(description="Login name (staff address, not member data), lower case.")
    display_name: str
    role: Role
    password_hash: str
    totp_secret: str
    failed_attempts: int = 0
    locked_until: datetime | None = None
    created_at: datetime
    last_sign_in_at: datetime | None = None
    last_sign_in_ip: str | None = None
    disabled: bool = False
    totp_last_step: int | None = Field(
        default=None, description="The last TOTP time step signed in with: its code is spent."
    )
    totp_pending_secret: str | None = Field(
        default=None, description="A re-enrolment's new secret until it is confirmed with a code."
    )
    totp_pending_until: datetime | None = None


class OperatorView(BaseModel):
    """What the API shows of an operator: never a hash or a secret."""

    id: str
    email: str
    display_name: str
    role: Role
    disabled: bool
    locked_until: datetime | None
    created_at: datetime
    last_sign_in_at: datetime | None

    @classmethod
    def of(cls, operator: Operator) -> OperatorView:
        return cls.model_validate(operator.model_dump(include=set(cls.model_fields)))


class DuplicateEmail(Exception):
    pass


@dataclass(frozen=True)
class NewOperator:
    operator: Operator
    password: str
    otpauth_uri: str


def normalise_email(email: str) -> str:
    return email.strip().casefold()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Always does one argon2 verification, so an unknown account (None) costs the same time."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def totp_matches(secret: str, code: str) -> bool:
    return totp_step(secret, code) is not None


def totp_step(secret: str, code: str, at: datetime | None = None) -> int | None:
    """The 30-second time step whose code `code` is (this one, or one either side for clock
    drift), or None: a code matches at most one step, and a used step is never accepted again."""
    code = code.strip()
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    moment = at or utcnow()
    for offset in (0, -1, 1):
        if hmac.compare_digest(totp.at(moment, counter_offset=offset), code):
            return int(totp.timecode(moment)) + offset
    return None


def password_problem(password: str, email: str) -> str | None:
    """Why `password` is too weak for the operator with `email` (None when it will do): at least
    MIN_PASSWORD_LENGTH characters, and not their email address or its local part."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "too_short"
    said = password.strip().casefold()
    address = normalise_email(email)
    if said in {address, address.partition("@")[0]}:
        return "is_email"
    return None


def new_password() -> str:
    return secrets.token_urlsafe(18)


def otpauth_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


class OperatorStore:
    """The only writer of `operators`."""

    def __init__(self, db: AsyncDatabase[Document], vault: Vault | None) -> None:
        self._operators = db[OPERATORS]
        self._vault = vault

    async def ensure_indexes(self) -> None:
        await self._operators.create_index("email", unique=True)

    async def _load(self, doc: Document | None) -> Operator | None:
        if doc is None:
            return None
        opened = await open_fields(self._vault, doc)
        return Operator.model_validate({**opened, "id": opened["_id"]})

    async def get(self, operator_id: str) -> Operator | None:
        return await self._load(await self._operators.find_one({"_id": operator_id}))

    async def by_email(self, email: str) -> Operator | None:
        return await self._load(await self._operators.find_one({"email": normalise_email(email)}))

    async def all(self) -> list[Operator]:
        found = []
        async for doc in self._operators.find({}).sort("created_at", 1):
            operator = await self._load(doc)
            assert operator is not None
            found.append(operator)
        return found

    async def create(self, email: str, display_name: str, role: Role) -> NewOperator:
        """A new operator with a generated password and TOTP secret (both shown once)."""
        password = new_password()
        secret = pyotp.random_base32()
        operator = Operator(
            id=f"op_{uuid.uuid4().hex}",
            email=normalise_email(email),
            display_name=display_name.strip(),
            role=role,
            password_hash=hash_password(password),
            totp_secret=secret,
            created_at=utcnow(),
        )
        if await self._operators.find_one({"email": operator.email}, {"_id": 1}):
            raise DuplicateEmail(operator.email)
        doc: dict[str, Any] = operator.model_dump(exclude={"id"})
        doc["_id"] = operator.id
        doc["schema_version"] = SCHEMA_VERSION
        try:
            await self._operators.insert_one(await seal_fields(self._vault, operator.id, doc, SEALED_FIELDS))
        except DuplicateKeyError as duplicate:
            raise DuplicateEmail(operator.email) from duplicate
        return NewOperator(operator, password, otpauth_uri(secret, operator.email))

    async def update(self, operator_id: str, changes: Document) -> Operator | None:
        await self._operators.update_one({"_id": operator_id}, {"$set": changes})
        return await self.get(operator_id)

    async def count_active_admins(self) -> int:
        return await self._operators.count_documents({"role": Role.admin.value, "disabled": False})

    async def failed(self, operator_id: str, max_failures: int, lock_until: datetime) -> bool:
        """Count one failed sign-in; True if this one locked the account (the count starts over)."""
        doc = await self._operators.find_one_and_update(
            {"_id": operator_id}, {"$inc": {"failed_attempts": 1}}, return_document=ReturnDocument.AFTER
        )
        if doc is None or doc["failed_attempts"] < max_failures:
            return False
        await self._operators.update_one(
            {"_id": operator_id}, {"$set": {"failed_attempts": 0, "locked_until": lock_until}}
        )
        return True

    async def spend_totp_step(self, operator_id: str, step: int) -> bool:
        """Claim TOTP time step `step` for a sign-in; False if it (or a later one) was used
        already: a code seen by someone else (over a shoulder, a phishing page) signs in once."""
        doc = await self._operators.find_one_and_update(
            {
                "_id": operator_id,
                "$or": [{"totp_last_step": {"$lt": step}}, {"totp_last_step": None}],
            },
            {"$set": {"totp_last_step": step}},
            {"_id": 1},
        )
        return doc is not None

    async def reset_credentials(self, operator_id: str) -> NewOperator | None:
        """A new password and TOTP secret (shown once), the lock lifted; every session and token
        of the operator stays valid only if the caller revokes them too (the route does)."""
        operator = await self.get(operator_id)
        if operator is None:
            return None
        password = new_password()
        secret = pyotp.random_base32()
        sealed = await seal_fields(self._vault, operator_id, {"totp_secret": secret}, SEALED_FIELDS)
        change: dict[str, Any] = {
            "$set": {
                **sealed,
                "password_hash": hash_password(password),
                "failed_attempts": 0,
                "locked_until": None,
                "totp_last_step": None,
                "totp_pending_until": None,
            }
        }
        # a pending re-enrolment ends; when sealed, no plain copy of the secret may stay
        change["$unset"] = {k: "" for k in SEALED_FIELDS if k not in sealed}
        await self._operators.update_one({"_id": operator_id}, change)
        updated = await self.get(operator_id)
        assert updated is not None
        return NewOperator(updated, password, otpauth_uri(secret, updated.email))

    async def set_password(self, operator_id: str, password: str) -> None:
        await self._operators.update_one(
            {"_id": operator_id}, {"$set": {"password_hash": hash_password(password)}}
        )

    async def start_totp(self, operator_id: str, now: datetime) -> tuple[str, datetime] | None:
        """A new TOTP secret kept pending (the current one still works) until `confirm_totp`:
        its otpauth URI (shown once) and until when it may be confirmed; None for no operator."""
        stored = await self._operators.find_one({"_id": operator_id})
        if stored is None:
            return None
        secret = pyotp.random_base32()
        until = now + timedelta(minutes=TOTP_ENROLMENT_MINUTES)
        kept = {k: v for k, v in stored.items() if k in {"sealed", *SEALED_FIELDS}}
        sealed = await seal_fields(
            self._vault, operator_id, {**kept, "totp_pending_secret": secret}, SEALED_FIELDS
        )
        await self._operators.update_one(
            {"_id": operator_id}, {"$set": {**sealed, "totp_pending_until": until}}
        )
        return otpauth_uri(secret, stored["email"]), until

    async def confirm_totp(self, operator_id: str, code: str, now: datetime) -> bool:
        """Make the pending secret the operator's if `code` is one of its codes (that code is then
        spent: it cannot sign in); the old secret stops working. False when there is no pending
        secret, it expired, or the code is not its."""
        operator = await self.get(operator_id)
        if operator is None or operator.totp_pending_secret is None or operator.totp_pending_until is None:
            return False
        if operator.totp_pending_until <= now:
            return False
        step = totp_step(operator.totp_pending_secret, code, now)
        if step is None:
            return False
        sealed = await seal_fields(
            self._vault, operator_id, {"totp_secret": operator.totp_pending_secret}, SEALED_FIELDS
        )
        change: dict[str, Any] = {
            "$set": {**sealed, "totp_last_step": step, "totp_pending_until": None},
        }
        unset = {k: "" for k in SEALED_FIELDS if k not in sealed}  # sealed, or nothing pending
        if unset:
            change["$unset"] = unset
        done = await self._operators.update_one(
            {"_id": operator_id, "totp_pending_until": operator.totp_pending_until}, change
        )
        return done.modified_count == 1

    async def unlock(self, operator_id: str) -> None:
        await self._operators.update_one(
            {"_id": operator_id}, {"$set": {"failed_attempts": 0, "locked_until": None}}
        )

    async def signed_in(self, operator_id: str, at: datetime, ip: str | None) -> None:
        await self._operators.update_one(
            {"_id": operator_id},
            {
                "$set": {
                    "failed_attempts": 0,
                    "locked_until": None,
                    "last_sign_in_at": at,
                    "last_sign_in_ip": ip,
                }
            },
        )
