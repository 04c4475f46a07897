"""Users' roles and what they may do, and the password hash.

Roles are enforced here, in `services`, so a viewer's acknowledge is refused by the
service itself and not only by a greyed-out button:

    require(user, "acknowledge_alert")   # raises PermissionDenied for a viewer

Passwords are hashed with scrypt (hashlib, OpenSSL) into a self-describing string,
"scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>", so the cost can be raised later without
breaking the hashes already stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

logger = logging.getLogger(__name__)

ROLES = ("admin", "operator", "viewer")
PERMISSIONS: dict[str, frozenset[str]] = {
    "acknowledge_alert": frozenset({"admin", "operator"}),
    "resolve_alert": frozenset({"admin", "operator"}),
    "manage_users": frozenset({"admin"}),
    "view": frozenset(ROLES),
}

SCHEME = "scrypt"
SCRYPT_N = 2**15  # ~0.1 s per hash here: slow for a guesser, unnoticed at a login
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
# A stored hash names its own cost; a tampered row must not make us allocate gigabytes.
MAX_SCRYPT_MEMORY_BYTES = 256 * 2**20
MAX_SCRYPT_P = 16
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024


@dataclass(frozen=True)
class AuthUser:
    """Who is signed in: what the services need to check permissions and name the actor."""

    id: str
    username: str
    role: str


class AuthError(Exception):
    """Sign-in refused; the message never says whether the user name or password was wrong."""


class PermissionDenied(Exception):
    """The user's role does not allow the action; the message names user, role and action."""

    def __init__(self, user: AuthUser | str, action: str | None = None) -> None:
        if isinstance(user, AuthUser):
            allowed = " or ".join(sorted(PERMISSIONS.get(action or "", ()))) or "nobody"
            message = (f"user {user.username!r} (role {user.role}) may not {_say(action)}; "
                       f"it needs the role {allowed}")
            self.user: AuthUser | None = user
        else:
            message, self.user = user, None
        super().__init__(message)
        self.action = action


class WeakPassword(ValueError):
    """A new password that the policy refuses (too short, too long, not text)."""


def _say(action: str | None) -> str:
    return (action or "do that").replace("_", " ")


def require(user: AuthUser, action: str) -> None:
    """Return if `user` may do `action`, else raise PermissionDenied.

    An action not in PERMISSIONS is a programming error (ValueError), never a silent yes.
    """
    if action not in PERMISSIONS:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(sorted(PERMISSIONS))}")
    if not isinstance(user, AuthUser) or user.role not in PERMISSIONS[action]:
        if not isinstance(user, AuthUser):
            raise PermissionDenied(f"nobody is signed in; {_say(action)} needs a user")
        logger.info("refused %s to %s (role %s)", action, user.username, user.role)
        raise PermissionDenied(user, action)


def check_password_policy(password: str) -> None:
    """Raise WeakPassword unless `password` may be set as a new password."""
    if not isinstance(password, str):
        raise WeakPassword("the password must be text")
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise WeakPassword(f"the password must have at most {MAX_PASSWORD_CHARS} characters")


def _scrypt_memory(n: int, r: int, p: int) -> int:
    # What OpenSSL reserves: 128*r*(n+2) for V plus 128*r*p for B.  At the defaults
    # that is just over its 32 MiB default limit, so maxmem must always be passed.
    return 128 * r * (n + 2 + p)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=_scrypt_memory(n, r, p) + 2**20, dklen=dklen)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """The encoded scrypt hash of `password` with a fresh random salt."""
    if not isinstance(password, str) or not password:
        raise WeakPassword("the password must be non-empty text")
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    return f"{SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    scheme, n, r, p, salt, digest = encoded.split("$")
    if scheme != SCHEME:
        raise ValueError(f"unknown scheme {scheme!r}")
    n_, r_, p_ = int(n), int(r), int(p)
    if not (1 < n_ and n_ & (n_ - 1) == 0 and r_ > 0 and 0 < p_ <= MAX_SCRYPT_P
            and _scrypt_memory(n_, r_, p_) <= MAX_SCRYPT_MEMORY_BYTES):
        raise ValueError("scrypt parameters out of range")
    salt_b, digest_b = (base64.b64decode(salt, validate=True),
                        base64.b64decode(digest, validate=True))
    if not salt_b or len(digest_b) < 16:
        raise ValueError("salt or hash too short")
    return n_, r_, p_, salt_b, digest_b


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches `encoded`; compared in constant time.

    A malformed stored hash is logged and never matches anything.
    """
    if not isinstance(password, str) or not isinstance(encoded, str):
        return False
    try:
        n, r, p, salt, expected = _parse(encoded)
    except (ValueError, binascii.Error) as exc:
        logger.warning("stored password hash is malformed (%s); refusing", exc)
        return False
    actual = _scrypt(password, salt, n, r, p, len(expected))
    return hmac.compare_digest(actual, expected)


def needs_rehash(encoded: str) -> bool:
    """True when `encoded` was made with other parameters than today's."""
    try:
        n, r, p, salt, digest = _parse(encoded)
    except (ValueError, binascii.Error):
        return True
    return (n, r, p, len(salt), len(digest)) != (SCRYPT_N, SCRYPT_R, SCRYPT_P, SALT_BYTES,
                                                 HASH_BYTES)


# Verified against when the user name is unknown, so "no such user" costs the same
# time as "wrong password" and response times do not reveal which names exist.
_DUMMY_HASH: str | None = None


def burn_equal_time(password: str) -> None:
    """Spend what a real verification costs, for an unknown user name."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    verify_password(password if isinstance(password, str) else "", _DUMMY_HASH)
