from __future__ import annotations

import pytest
from sqlalchemy import text

from services.auth import AuthError, AuthUser, verify_password
from services.records.errors import InvalidRecord
from services.records.users import (
    DuplicateUser,
    UnknownUser,
    UserRepository,
    ensure_demo_account,
)

PASSWORD = "tr0ub4dor&3-long"


def _add(db, username="ada", email="ada@lab.example", password=PASSWORD, role="admin"):
    with db.session() as session:
        return UserRepository(session).create(username, email, password, role).id


def test_create_and_read_back(db):
    user_id = _add(db)
    with db.session() as session:
        users = UserRepository(session)
        user = users.get("ada")
        assert (user.id, user.email, user.role, user.is_active) == (
            user_id, "ada@lab.example", "admin", True)
        assert len(user.id) == 36 and user.created_at.tzinfo is not None
        assert users.get("ADA").id == user_id  # names are case-insensitive
        assert users.get_by_id(user_id).username == "ada"
        assert users.get("nobody") is None


def test_password_is_never_stored_in_clear(db):
    _add(db)
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM users")).all()
    assert len(rows) == 1
    assert all(PASSWORD not in str(value) for value in rows[0])
    stored = rows[0]._mapping["password_hash"]
    assert stored.startswith("scrypt$32768$8$1$") and verify_password(PASSWORD, stored)


@pytest.mark.parametrize(("username", "email", "needle"), [
    ("ada", "other@lab.example", "user name 'ada' is already taken"),
    ("Ada", "other@lab.example", "user name 'Ada' is already taken"),
    ("ada2", "ADA@lab.example", "already used by user 'ada'"),
])
def test_duplicates_are_refused_clearly(db, username, email, needle):
    _add(db)
    with pytest.raises(DuplicateUser, match=needle), db.session() as session:
        UserRepository(session).create(username, email, PASSWORD, "viewer")
    with db.session() as session:
        assert [u.username for u in UserRepository(session).list()] == ["ada"]


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"username": "bad name"}, "user name"),
    ({"username": "x'); drop table users;--"}, "user name"),
    ({"username": "a" * 51}, "user name"),
    ({"email": "no-at-sign"}, "e-mail"),
    ({"role": "root"}, "unknown role"),
    ({"password": "short"}, "at least 10"),
])
def test_bad_input_is_refused(db, kwargs, needle):
    values = {"username": "bob", "email": "bob@lab.example", "password": PASSWORD,
              "role": "viewer", **kwargs}
    with pytest.raises(InvalidRecord, match=needle), db.session() as session:
        UserRepository(session).create(**values)


def test_authenticate(db):
    user_id = _add(db, role="operator")
    with db.session() as session:
        users = UserRepository(session)
        assert users.authenticate("ada", PASSWORD) == AuthUser(user_id, "ada", "operator")
        with pytest.raises(AuthError) as wrong:
            users.authenticate("ada", PASSWORD + "x")
        with pytest.raises(AuthError) as unknown:
            users.authenticate("nobody", PASSWORD)
    # Same message either way: a guesser cannot tell which names exist.
    assert str(wrong.value) == str(unknown.value) == "invalid username or password"


def test_inactive_user_cannot_sign_in(db):
    _add(db)
    with db.session() as session:
        UserRepository(session).set_active("ada", False)
    with db.session() as session:
        users = UserRepository(session)
        assert users.get("ada").is_active is False
        with pytest.raises(AuthError, match="deactivated"):
            users.authenticate("ada", PASSWORD)
        with pytest.raises(AuthError, match="invalid username or password"):
            users.authenticate("ada", "wrong-password")  # no hint without the password
        users.set_active("ada", True)
        assert users.authenticate("ada", PASSWORD).username == "ada"


def test_set_password(db):
    _add(db)
    with db.session() as session:
        UserRepository(session).set_password("ada", "a-brand-new-secret")
    with db.session() as session:
        users = UserRepository(session)
        assert users.authenticate("ada", "a-brand-new-secret").username == "ada"
        with pytest.raises(AuthError):
            users.authenticate("ada", PASSWORD)
        with pytest.raises(InvalidRecord, match="at least 10"):
            users.set_password("ada", "tiny")
        with pytest.raises(UnknownUser):
            users.set_password("nobody", "a-brand-new-secret")


def test_list_is_sorted_and_filters_inactive(db):
    _add(db, "carol", "carol@lab.example", role="viewer")
    _add(db, "Bob", "bob@lab.example", role="operator")
    _add(db, "alice", "alice@lab.example")
    with db.session() as session:
        users = UserRepository(session)
        users.set_active("Bob", False)
        assert [u.username for u in users.list()] == ["alice", "Bob", "carol"]
        assert [u.username for u in users.list(active_only=True)] == ["alice", "carol"]


def test_demo_account_has_a_random_password(db):
    username, password = ensure_demo_account(db)
    assert username == "demo" and len(password) >= 16
    with db.session() as session:
        users = UserRepository(session)
        assert users.authenticate("demo", password).role == "operator"
        assert [u.username for u in users.list()] == ["demo"]  # no viewer, no admin
    # Run again on the same database: still one account, a new working password.
    again_user, again_password = ensure_demo_account(db)
    assert again_user == "demo" and again_password != password
    with db.session() as session:
        users = UserRepository(session)
        assert users.authenticate("demo", again_password).username == "demo"
        with pytest.raises(AuthError):
            users.authenticate("demo", password)
        assert len(users.list()) == 1
