"""_permissions.is_admin: who may run /reindex and /stats, with plain values."""

from __future__ import annotations

from askbot.bot._permissions import is_admin


def check(**kw: object) -> bool:
    base: dict[str, object] = dict(
        user_id=1, role_ids=[], manage_guild=False, administrator=False, is_owner=False,
        admin_role_ids=frozenset({50}), admin_user_ids=frozenset({7}),
    )  # fmt: skip
    base.update(kw)
    return is_admin(**base)  # type: ignore[arg-type]


def test_plain_member_is_not_admin() -> None:
    """No permission, role or listed id: refused."""
    assert not check(role_ids=[3, 4])


def test_manage_server_is_admin() -> None:
    """The Manage Server permission is enough."""
    assert check(manage_guild=True)


def test_administrator_and_owner_are_admin() -> None:
    """Administrator or owning the guild is enough."""
    assert check(administrator=True) and check(is_owner=True)


def test_configured_role_is_admin() -> None:
    """A role listed in ASKBOT_ADMIN_ROLE_IDS is enough."""
    assert check(role_ids=[3, 50])


def test_configured_user_is_admin() -> None:
    """A user listed in ASKBOT_ADMIN_USER_IDS is enough."""
    assert check(user_id=7)
