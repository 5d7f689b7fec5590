"""Operator roles and what each may do: the one table every permission check reads.

role       may
admin      everything (operators, keys, audit, and all below)
publisher  publish and send alerts and sessions, approve; read deliveries
editor     draft alerts and sessions; read deliveries
viewer     the dashboard and deliveries, without members' personal details
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
    alerts_draft = "alerts.draft"
    alerts_publish = "alerts.publish"
    sessions_draft = "sessions.draft"
    sessions_publish = "sessions.publish"
    members_read_personal = "members.read_personal"
    deliveries_read = "deliveries.read"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.admin: frozenset(Permission),
    Role.publisher: frozenset(
        {
            Permission.alerts_draft,
            Permission.alerts_publish,
            Permission.sessions_draft,
            Permission.sessions_publish,
            Permission.deliveries_read,
        }
    ),
    Role.editor: frozenset({Permission.alerts_draft, Permission.sessions_draft, Permission.deliveries_read}),
    Role.viewer: frozenset({Permission.deliveries_read}),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]
