"""The console's role table and credential checks, without I/O."""

from __future__ import annotations

import pyotp

from services.console.operators import hash_password, password_matches, totp_matches
from services.console.permissions import ROLE_PERMISSIONS, Permission, Role, allows


def test_admin_may_do_everything_and_every_role_is_in_the_table() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    assert ROLE_PERMISSIONS[Role.admin] == frozenset(Permission)


def test_an_editor_drafts_a_publisher_publishes_a_viewer_only_reads_the_dashboard() -> None:
    assert allows(Role.editor, Permission.alerts_draft) and allows(Role.editor, Permission.sessions_draft)
    assert not allows(Role.editor, Permission.alerts_publish)
    assert not allows(Role.editor, Permission.sessions_publish)
    assert allows(Role.publisher, Permission.alerts_publish) and allows(
        Role.publisher, Permission.sessions_publish
    )
    assert ROLE_PERMISSIONS[Role.viewer] == {Permission.dashboard_read, Permission.deliveries_read}
    for role in (Role.publisher, Role.editor, Role.viewer):
        for admin_only in (
            Permission.operators_manage,
            Permission.audit_read,
            Permission.keys_manage,
            Permission.members_erase,
        ):
            assert not allows(role, admin_only), (role, admin_only)
    for role in (Role.editor, Role.viewer):
        assert not allows(role, Permission.members_read_personal)
        assert not allows(role, Permission.members_import)


def test_passwords_are_argon2id_and_an_unknown_account_never_matches() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert password_matches(stored, "correct horse")
    assert not password_matches(stored, "wrong")
    assert not password_matches(None, "correct horse")
    assert not password_matches("not-a-hash", "correct horse")


def test_totp_accepts_the_current_code_only() -> None:
    secret = pyotp.random_base32()
    assert totp_matches(secret, pyotp.TOTP(secret).now())
    assert not totp_matches(secret, "")
    assert not totp_matches(secret, "000000") or pyotp.TOTP(secret).now() == "000000"
