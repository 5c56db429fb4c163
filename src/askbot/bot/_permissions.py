"""Who may use the admin commands: decided in the bot on every call, from plain values."""

from __future__ import annotations

from collections.abc import Iterable, Set


def is_admin(
    *,
    user_id: int,
    role_ids: Iterable[int],
    manage_guild: bool,
    administrator: bool,
    is_owner: bool,
    admin_role_ids: Set[int],
    admin_user_ids: Set[int],
) -> bool:
    """Manage Server (or Administrator, or owning the guild), or a configured role or user.

    Discord's default_permissions only hide a command in the UI, and a guild can change them,
    so this is checked again for every call.
    """
    if manage_guild or administrator or is_owner:
        return True
    if user_id in admin_user_ids:
        return True
    return any(role in admin_role_ids for role in role_ids)
