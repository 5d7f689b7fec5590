"""Signing in with email, password and TOTP code; lockout after repeated failures.

Every outcome answers the caller the same way (the route's one 401), whether the email is
unknown, the account disabled or locked, or the password or code wrong; an unknown email costs
one argon2 verification like a known one. The audit trail tells them apart. A TOTP code signs
in once: its time step is spent, so a code read over a shoulder or by a phishing page cannot be
replayed within its window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.console.audit import AuditEvent, Outcome
from services.console.auth import Console
from services.console.operators import Operator, password_matches, totp_step
from shared.contracts import utcnow

THROTTLE = "sign_in_throttle"


class Throttled(Exception):
    """Too many failed sign-ins from this address lately; `retry_after` seconds to wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class AddressThrottle:
    """Failed sign-ins per client address in fixed windows of CONSOLE_LOCKOUT_MINUTES, kept in the
    console's `sign_in_throttle` collection (so every replica sees them); old windows are deleted
    as new failures come."""

    def __init__(self, db: Any, limit: int, window_minutes: float) -> None:
        self._windows = db[THROTTLE]
        self._limit = limit
        self._seconds = max(1, int(window_minutes * 60))

    def _window(self, now: datetime) -> int:
        return int(now.timestamp()) // self._seconds

    async def check(self, ip: str | None, now: datetime) -> None:
        if ip is None:
            return
        window = self._window(now)
        found = await self._windows.find_one({"_id": f"{window}:{ip}"}, {"failures": 1})
        if found is not None and found["failures"] >= self._limit:
            raise Throttled((window + 1) * self._seconds - int(now.timestamp()))

    async def failed(self, ip: str | None, now: datetime) -> None:
        if ip is None:
            return
        window = self._window(now)
        await self._windows.update_one(
            {"_id": f"{window}:{ip}"}, {"$inc": {"failures": 1}, "$set": {"window": window}}, upsert=True
        )
        await self._windows.delete_many({"window": {"$lt": window}})


@dataclass(frozen=True)
class Session:
    operator: Operator
    token: str
    session_id: str
    expires_at: datetime


async def sign_in(console: Console, email: str, password: str, totp: str, ip: str | None) -> Session | None:
    settings = console.settings
    operator = await console.operators.by_email(email)
    password_ok = password_matches(operator.password_hash if operator else None, password)
    now = utcnow()

    async def audit(action: str, operator_id: str | None, outcome: Outcome = "failed", **detail: str) -> None:
        await console.audit.record(
            AuditEvent(
                operator_id=operator_id,
                action=action,
                object_type="operator" if operator_id else None,
                object_id=operator_id,
                outcome=outcome,
                ip=ip,
                detail=detail,
            )
        )

    throttle = AddressThrottle(console.db, settings.sign_in_failures_per_address, settings.lockout_minutes)
    try:
        await throttle.check(ip, now)
    except Throttled:
        await audit("operator.sign_in", operator.id if operator else None, reason="throttled")
        raise
    if operator is None:
        await audit("operator.sign_in", None, reason="unknown_email")
        await throttle.failed(ip, now)
        return None
    if operator.disabled:
        await audit("operator.sign_in", operator.id, reason="disabled")
        await throttle.failed(ip, now)
        return None
    if operator.locked_until is not None and operator.locked_until > now:
        await audit("operator.sign_in", operator.id, reason="locked")
        return None
    step = totp_step(operator.totp_secret, totp, now) if password_ok else None
    reused = step is not None and not await console.operators.spend_totp_step(operator.id, step)
    if step is None or reused:
        reason = "password" if not password_ok else ("totp_reused" if reused else "totp")
        await audit("operator.sign_in", operator.id, reason=reason)
        await throttle.failed(ip, now)
        lock_until = now + timedelta(minutes=settings.lockout_minutes)
        if await console.operators.failed(operator.id, settings.max_failures, lock_until):
            await audit("operator.locked", operator.id, "ok", until=lock_until.isoformat())
        return None
    await console.operators.signed_in(operator.id, now, ip)
    token, session_id, expires = await console.credentials.open_session(operator.id, settings.session_hours)
    await console.audit.record(
        AuditEvent(
            operator_id=operator.id,
            action="operator.sign_in",
            object_type="operator",
            object_id=operator.id,
            session_id=session_id,
            ip=ip,
        )
    )
    return Session(operator, token, session_id, expires)
