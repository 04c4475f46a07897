from __future__ import annotations

import base64
import time

import pytest

from services import auth
from services.auth import (
    PERMISSIONS,
    ROLES,
    AuthUser,
    PermissionDenied,
    WeakPassword,
    check_password_policy,
    hash_password,
    needs_rehash,
    require,
    verify_password,
)

ADMIN = AuthUser("1", "ada", "admin")
OPERATOR = AuthUser("2", "otto", "operator")
VIEWER = AuthUser("3", "vera", "viewer")


def test_hash_is_self_describing_scrypt_with_random_salt():
    encoded = hash_password("correct horse battery")
    scheme, n, r, p, salt, digest = encoded.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", 2**15, 8, 1)
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(digest)) == 32
    assert "correct horse battery" not in encoded
    again = hash_password("correct horse battery")
    assert again != encoded and again.split("$")[4] != salt  # fresh salt every time
    assert not needs_rehash(encoded)


def test_verify_accepts_the_password_and_refuses_others():
    encoded = hash_password("correct horse battery")
    assert verify_password("correct horse battery", encoded)
    assert not verify_password("correct horse batterY", encoded)
    assert not verify_password("", encoded)
    assert not verify_password("correct horse battery", hash_password("something else!"))


def test_old_parameters_still_verify_and_ask_for_a_rehash():
    # A hash made with a lower cost (as an older release might have) stays valid.
    import hashlib

    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"old-password-1", salt=salt, n=2**14, r=8, p=1, dklen=32)
    encoded = (f"scrypt$16384$8$1${base64.b64encode(salt).decode()}$"
               f"{base64.b64encode(digest).decode()}")
    assert verify_password("old-password-1", encoded)
    assert needs_rehash(encoded)


@pytest.mark.parametrize("encoded", [
    "", "plain-text-password", "bcrypt$12$abc", "scrypt$32768$8$1$!!!$???",
    "scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    # a tampered row asking for 4 GiB of memory is refused, not computed
    "scrypt$4194304$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
])
def test_malformed_hashes_never_match(encoded):
    started = time.perf_counter()
    assert not verify_password("plain-text-password", encoded)
    assert time.perf_counter() - started < 1.0


def test_comparison_is_constant_time(monkeypatch):
    calls = []
    real = auth.hmac.compare_digest

    def spy(a, b):
        calls.append((type(a), type(b)))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    encoded = hash_password("correct horse battery")
    assert verify_password("correct horse battery", encoded)
    assert not verify_password("wrong password!!", encoded)
    assert calls == [(bytes, bytes), (bytes, bytes)]


def test_password_policy():
    check_password_policy("0123456789")
    for weak in ("", "short", "123456789"):
        with pytest.raises(WeakPassword, match="at least 10"):
            check_password_policy(weak)
    with pytest.raises(WeakPassword):
        hash_password("")


@pytest.mark.parametrize("action", sorted(PERMISSIONS))
@pytest.mark.parametrize("user", [ADMIN, OPERATOR, VIEWER], ids=lambda u: u.role)
def test_require_follows_the_permission_table(user, action):
    if user.role in PERMISSIONS[action]:
        require(user, action)
    else:
        with pytest.raises(PermissionDenied):
            require(user, action)


def test_roles_in_the_table():
    assert ROLES == ("admin", "operator", "viewer")
    require(VIEWER, "view")
    require(OPERATOR, "acknowledge_alert")
    require(OPERATOR, "resolve_alert")
    require(ADMIN, "manage_users")
    for action in ("acknowledge_alert", "resolve_alert", "manage_users"):
        with pytest.raises(PermissionDenied):
            require(VIEWER, action)
    with pytest.raises(PermissionDenied):
        require(OPERATOR, "manage_users")


def test_permission_denied_names_user_role_and_action():
    with pytest.raises(PermissionDenied) as info:
        require(VIEWER, "acknowledge_alert")
    message = str(info.value)
    assert "'vera'" in message and "viewer" in message and "acknowledge alert" in message
    assert "admin or operator" in message
    assert info.value.user == VIEWER and info.value.action == "acknowledge_alert"


def test_unknown_role_and_unknown_action():
    with pytest.raises(PermissionDenied, match="role guest"):
        require(AuthUser("9", "gus", "guest"), "view")
    with pytest.raises(ValueError, match="unknown action"):
        require(ADMIN, "launch_missiles")
    with pytest.raises(PermissionDenied, match="nobody is signed in"):
        require(None, "view")  # type: ignore[arg-type]
