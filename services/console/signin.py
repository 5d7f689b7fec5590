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

from services.console.audit import AuditEvent, Outcome
from services.console.auth import Console
from services.console.operators import Operator, password_matches, totp_step
from shared.contracts import utcnow


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

    if operator is None:
        await audit("operator.sign_in", None, reason="unknown_email")
        return None
    if operator.disabled:
        await audit("operator.sign_in", operator.id, reason="disabled")
        return None
    if operator.locked_until is not None and operator.locked_until > now:
        await audit("operator.sign_in", operator.id, reason="locked")
        return None
    step = totp_step(operator.totp_secret, totp, now) if password_ok else None
    reused = step is not None and not await console.operators.spend_totp_step(operator.id, step)
    if step is None or reused:
        reason = "password" if not password_ok else ("totp_reused" if reused else "totp")
        await audit("operator.sign_in", operator.id, reason=reason)
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
