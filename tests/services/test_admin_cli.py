from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services import admin_cli
from services.records.db import Database
from services.records.users import UserRepository

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-from-stdin"


def _run(records_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """The real program, as an administrator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "services.admin_cli", *args], input=stdin, text=True,
        capture_output=True, cwd=ROOT, timeout=60,
        env={**os.environ, "TONYPI_RECORDS_URL": records_url})


def _authenticate(records_url: str, username: str, password: str):
    database = Database(records_url)
    try:
        with database.session() as session:
            return UserRepository(session).authenticate(username, password)
    finally:
        database.dispose()


@pytest.fixture
def typed(monkeypatch):
    """Answers to the hidden password prompts, in order."""
    answers: list[str] = []
    monkeypatch.setattr(admin_cli.getpass, "getpass", lambda prompt="": answers.pop(0))
    return answers


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_first_admin_on_a_new_database_via_stdin(request, backend):
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    done = _run(url, "create-user", "--username", "ada", "--email", "ada@lab.example",
                "--role", "admin", "--password-stdin", stdin=SECRET + "\n")
    assert done.returncode == 0, done.stderr
    assert "user ada created with role admin" in done.stdout
    assert SECRET not in done.stdout + done.stderr
    assert _authenticate(url, "ada", SECRET).role == "admin"

    listed = _run(url, "list-users")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["USERNAME", "EMAIL", "ROLE", "ACTIVE", "CREATED"]
    assert row.split()[:4] == ["ada", "ada@lab.example", "admin", "yes"]
    assert row.endswith("UTC")


@pytest.mark.parametrize("given", [["--password", SECRET], [f"--password={SECRET}"],
                                   ["--pass", SECRET], ["--passwd", SECRET]])
def test_password_cannot_be_given_on_the_command_line(sqlite_url, capsys, given):
    with pytest.raises(SystemExit) as info:
        admin_cli.main(["--records-url", sqlite_url, "create-user", "--username", "ada",
                        "--email", "ada@lab.example", "--role", "admin", *given])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "never taken from the command line" in err and SECRET not in err
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()  # nothing was created


def test_no_abbreviated_options(sqlite_url, capsys):
    # argparse would expand prefixes (that is how `--password X` once became
    # `--password-stdin X`); every option must be spelt out.
    with pytest.raises(SystemExit) as info:
        admin_cli.main(["--records-url", sqlite_url, "set-password", "--user", "ada"])
    assert info.value.code == 2
    assert "required: --username" in capsys.readouterr().err


def test_typed_twice_and_checked(sqlite_url, typed, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    base = ["--records-url", sqlite_url, "create-user", "--username", "otto",
            "--email", "otto@lab.example", "--role", "operator"]
    typed += ["first-password", "second-password"]
    assert admin_cli.main(base) == 1
    assert "the two passwords differ" in capsys.readouterr().err
    typed += ["short", "short"]
    assert admin_cli.main(base) == 1
    assert "at least 10" in capsys.readouterr().err
    assert "no users yet" in _list(sqlite_url, capsys)

    typed += ["otto-password-1", "otto-password-1"]
    assert admin_cli.main(base) == 0
    assert "user otto created with role operator" in capsys.readouterr().out
    assert _authenticate(sqlite_url, "otto", "otto-password-1").role == "operator"
    assert typed == []

    # Same name again: refused before any prompt.
    assert admin_cli.main(base) == 1
    assert "'otto' is already taken" in capsys.readouterr().err


def _list(url: str, capsys) -> str:
    assert admin_cli.main(["--records-url", url, "list-users"]) == 0
    return capsys.readouterr().out


def test_set_password_and_deactivate(sqlite_url, typed, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("viewer-password\n"))
    assert admin_cli.main(["--records-url", sqlite_url, "create-user", "--username", "vera",
                           "--email", "vera@lab.example", "--role", "viewer",
                           "--password-stdin"]) == 0
    typed += ["another-password", "another-password"]
    assert admin_cli.main(["--records-url", sqlite_url, "set-password",
                           "--username", "vera"]) == 0
    assert "password of vera changed" in capsys.readouterr().out
    assert _authenticate(sqlite_url, "vera", "another-password").username == "vera"

    assert admin_cli.main(["--records-url", sqlite_url, "deactivate", "--username",
                           "vera"]) == 0
    assert "vera" in capsys.readouterr().out
    assert _list(sqlite_url, capsys).splitlines()[1].split()[3] == "no"

    assert admin_cli.main(["--records-url", sqlite_url, "deactivate", "--username",
                           "nobody"]) == 1
    assert "no user named 'nobody'" in capsys.readouterr().err
    assert admin_cli.main(["--records-url", sqlite_url, "set-password",
                           "--username", "nobody"]) == 1  # refused before prompting
    assert typed == []


def test_url_with_password_and_unreachable_server_are_explained(capsys, tmp_path):
    assert admin_cli.main(["--records-url", "postgresql://admin:hunter2@db/tonypi",
                           "list-users"]) == 2
    err = capsys.readouterr().err
    assert "contains a password" in err and "hunter2" not in err

    settings = tmp_path / "ingest.toml"
    settings.write_text('[records]\nurl = "postgresql://tonypi@127.0.0.1:1/tonypi"\n')
    assert admin_cli.main(["--config", str(settings), "list-users"]) == 1
    assert "records database unavailable" in capsys.readouterr().err
