"""Console users in the `users` table: create, sign in, change password, deactivate.

Only scrypt hashes are stored (services.auth); a clear password never reaches the
database or a log line.  User names and e-mail addresses are unique regardless of
case, so "Alice" cannot shadow "alice".  Users are deactivated, never deleted: alerts
and reports keep naming who acknowledged or wrote them.
"""

from __future__ import annotations

import logging
import re
import secrets

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.auth import (
    ROLES,
    AuthError,
    AuthUser,
    burn_equal_time,
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from services.records.db import Database
from services.records.errors import InvalidRecord, RecordsError
from services.records.models import User

logger = logging.getLogger(__name__)

__all__ = ["DEMO_ROLE", "DEMO_USERNAME", "DuplicateUser", "UnknownUser", "UserRepository",
           "ensure_demo_account", "to_auth_user"]

USERNAME_MAX_LEN = 50  # users.username is String(50)
EMAIL_MAX_LEN = 100  # users.email is String(100)
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
INVALID_LOGIN = "invalid username or password"
DEMO_USERNAME = "demo"
DEMO_ROLE = "operator"
DEMO_EMAIL = "demo@tonypi.invalid"  # .invalid: reserved, never delivers mail
DEMO_PASSWORD_BYTES = 12  # token_urlsafe(12): 16 characters, ~96 bits


class DuplicateUser(InvalidRecord):
    """The user name or e-mail address is already taken (compared regardless of case)."""


class UnknownUser(RecordsError, LookupError):
    """No user by that name."""


def to_auth_user(user: User) -> AuthUser:
    return AuthUser(id=user.id, username=user.username, role=user.role or "viewer")


def _check_username(username: str) -> str:
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise InvalidRecord(f"user name {username!r} is not valid: 1 to {USERNAME_MAX_LEN} "
                            "letters, digits, '.', '_' or '-', starting with a letter or digit")
    return username


def _check_email(email: str) -> str:
    if not isinstance(email, str):
        raise InvalidRecord("e-mail address must be text")
    email = email.strip()
    if len(email) > EMAIL_MAX_LEN or not _EMAIL.match(email):
        raise InvalidRecord(f"e-mail address {email!r} is not valid (name@host, at most "
                            f"{EMAIL_MAX_LEN} characters)")
    return email


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidRecord(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role


def _check_new_password(password: str) -> None:
    try:
        check_password_policy(password)
    except ValueError as exc:
        raise InvalidRecord(str(exc)) from None


class UserRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, username: str) -> User | None:
        if not isinstance(username, str):
            return None
        return self.session.scalars(
            select(User).where(func.lower(User.username) == username.lower())).first()

    def get_by_id(self, user_id: str) -> User | None:
        return self.session.get(User, user_id)

    def list(self, active_only: bool = False) -> list[User]:
        statement = select(User).order_by(func.lower(User.username))
        if active_only:
            statement = statement.where(User.is_active.is_not(False))
        return list(self.session.scalars(statement))

    def create(self, username: str, email: str, password: str, role: str) -> User:
        """Add a user; DuplicateUser if the name or address is taken, InvalidRecord for
        a bad name, address, role or a password the policy refuses."""
        username = _check_username(username)
        email = _check_email(email)
        _check_role(role)
        _check_new_password(password)
        if self.get(username) is not None:
            raise DuplicateUser(f"user name {username!r} is already taken")
        taken = self.session.scalars(
            select(User.username).where(func.lower(User.email) == email.lower())).first()
        if taken is not None:
            raise DuplicateUser(f"e-mail address {email!r} is already used by user {taken!r}")
        user = User(username=username, email=email, password_hash=hash_password(password),
                    role=role, is_active=True)
        self.session.add(user)
        try:
            self.session.flush()
        except IntegrityError:
            # Another writer took the name between our check and our insert; the
            # transaction is spoilt, so say what happened and let the caller roll back.
            raise DuplicateUser(f"user name {username!r} or e-mail address {email!r} was "
                                "taken at the same moment by another session") from None
        logger.info("created user %s (role %s)", username, role)
        return user

    def authenticate(self, username: str, password: str) -> AuthUser:
        """The signed-in user, or AuthError.

        An unknown name and a wrong password get the same message and cost the same
        time.  A deactivated account is reported as such only to someone who knows
        its password.
        """
        user = self.get(username) if isinstance(username, str) else None
        if user is None:
            burn_equal_time(password)
            logger.info("sign-in refused: unknown user name")
            raise AuthError(INVALID_LOGIN)
        if not verify_password(password, user.password_hash):
            logger.info("sign-in refused for %s: wrong password", user.username)
            raise AuthError(INVALID_LOGIN)
        if user.is_active is False:
            logger.info("sign-in refused for %s: account deactivated", user.username)
            raise AuthError(f"the account {user.username!r} is deactivated; ask an "
                            "administrator")
        if needs_rehash(user.password_hash):
            # The cost was raised since this hash was made: upgrade it while we have the
            # password in hand.
            user.password_hash = hash_password(password)
            self.session.flush()
        return to_auth_user(user)

    def _require(self, username: str) -> User:
        user = self.get(username)
        if user is None:
            raise UnknownUser(f"no user named {username!r}")
        return user

    def set_password(self, username: str, password: str) -> None:
        _check_new_password(password)
        user = self._require(username)
        user.password_hash = hash_password(password)
        self.session.flush()
        logger.info("password of %s changed", user.username)

    def set_active(self, username: str, active: bool) -> None:
        user = self._require(username)
        user.is_active = bool(active)
        self.session.flush()
        logger.info("user %s %s", user.username, "activated" if active else "deactivated")


def ensure_demo_account(database: Database) -> tuple[str, str]:
    """The demo's own operator account: (username, password) to print for the user.

    There are no default passwords: the password is random.  Only its hash is stored,
    so when the account already exists (a reused demo database) it gets a fresh random
    password, which is the only way to hand back one that works.
    """
    password = secrets.token_urlsafe(DEMO_PASSWORD_BYTES)
    with database.session() as session:
        users = UserRepository(session)
        if users.get(DEMO_USERNAME) is None:
            users.create(DEMO_USERNAME, DEMO_EMAIL, password, DEMO_ROLE)
        else:
            users.set_password(DEMO_USERNAME, password)
            users.set_active(DEMO_USERNAME, True)
    return DEMO_USERNAME, password
