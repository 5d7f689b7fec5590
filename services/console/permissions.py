"""Operator roles and what each may do: the one table every permission check reads.

role       may
admin      everything: operators, partner keys, the audit trail, members' export and erasure,
           and all below
publisher  publish and send alerts and sessions, approve; read members' personal details
           (registrations, replies, subscribers) — each read audited; import sign-up sheets and
           subscribers; re-issue certificates; and all an editor may
editor     draft alerts and sessions; the dashboard
viewer     the dashboard: alerts, sessions and deliveries as counts and states, without
           members' personal details
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    publisher = "publisher"
    editor = "editor"
    viewer = "viewer"


class Permission(StrEnum):
    operators_manage = "operators.manage"
    audit_read = "audit.read"
    keys_manage = "keys.manage"
    dashboard_read = "dashboard.read"
    alerts_draft = "alerts.draft"
    alerts_publish = "alerts.publish"
    sessions_draft = "sessions.draft"
    sessions_publish = "sessions.publish"
    deliveries_read = "deliveries.read"
    members_read_personal = "members.read_personal"
    members_import = "members.import"
    members_erase = "members.erase"
    certificates_reissue = "certificates.reissue"
    dead_letters_manage = "dead_letters.manage"
    replies_answer = "replies.answer"


_EDITOR = frozenset(
    {
        Permission.dashboard_read,
        Permission.deliveries_read,
        Permission.alerts_draft,
        Permission.sessions_draft,
    }
)
_PUBLISHER = _EDITOR | {
    Permission.alerts_publish,
    Permission.sessions_publish,
    Permission.members_read_personal,
    Permission.members_import,
    Permission.certificates_reissue,
    Permission.dead_letters_manage,
    Permission.replies_answer,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.admin: frozenset(Permission),
    Role.publisher: frozenset(_PUBLISHER),
    Role.editor: _EDITOR,
    Role.viewer: frozenset({Permission.dashboard_read, Permission.deliveries_read}),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]
