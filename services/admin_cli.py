"""`tonypi-admin`: manage the console's users in the records database.

    tonypi-admin create-user --username ada --email ada@lab.example --role admin
    tonypi-admin list-users
    tonypi-admin set-password --username ada
    tonypi-admin deactivate --username bob
    tonypi-admin dead-letters list
    tonypi-admin dead-letters show 3
    tonypi-admin dead-letters replay 3 4     (or --all)
    tonypi-admin dead-letters delete 3

Passwords are typed twice at a hidden prompt, or read from standard input with
--password-stdin (one line, for scripts); never from the command line, where other
users of the machine can read them.  The database is the one of the ingest service
(--records-url, TONYPI_RECORDS_URL or the [records] url of --config), its password
from TONYPI_DB_PASSWORD or the keyring.  Migrations run first, so this also works
on a brand-new database to create the first admin.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import TextIO
from urllib.parse import urlsplit

from sqlalchemy.exc import ArgumentError

from services.admin_dead_letters import run_dead_letters
from services.auth import MIN_PASSWORD_CHARS, ROLES, check_password_policy
from services.history.base import HistoryStore
from services.history.factory import open_history_store
from services.records.db import Database
from services.records.errors import InvalidRecord, RecordsError
from services.records.migrate import upgrade
from services.records.users import UnknownUser, UserRepository
from services.secrets import SecretUnavailable, get_secret
from services.settings import SettingsError, load_settings

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1  # the request was understood but refused (taken name, unknown user...)
EXIT_USAGE = 2  # bad arguments or settings, as argparse itself uses


class CliError(Exception):
    """A refusal to report on stderr with EXIT_FAILED."""


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False everywhere: otherwise argparse reads `--password X` as
    # `--password-stdin` and then echoes X in its error message.
    parser = argparse.ArgumentParser(prog="tonypi-admin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--records-url", help="records database URL, without password "
                        "(default: TONYPI_RECORDS_URL or the settings file)")
    parser.add_argument("--config", help="TOML settings file of the ingest service")
    parser.add_argument("--log-level", default="WARNING")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser = functools.partial(commands.add_parser, allow_abbrev=False)

    create = commands.add_parser("create-user", help="add a user")
    create.add_argument("--username", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    _password_source(create)

    commands.add_parser("list-users", help="show every user, active or not")

    change = commands.add_parser("set-password", help="give a user a new password")
    change.add_argument("--username", required=True)
    _password_source(change)

    deactivate = commands.add_parser("deactivate", help="stop a user from signing in")
    deactivate.add_argument("--username", required=True)

    letters = commands.add_parser("dead-letters", help="messages a store refused: list, "
                                  "show, replay (after fixing the cause) or delete them")
    actions = letters.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="one line per dead letter", allow_abbrev=False)
    show = actions.add_parser("show", help="one dead letter in full", allow_abbrev=False)
    show.add_argument("id", type=int)
    again = actions.add_parser("replay", help="store them again; stored ones are removed",
                               allow_abbrev=False)
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", type=int, nargs="*", default=[])
    which.add_argument("--all", action="store_true")
    drop = actions.add_parser("delete", help="remove dead letters for good",
                              allow_abbrev=False)
    drop.add_argument("ids", type=int, nargs="+")
    return parser


def _password_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of standard input")


def read_new_password(from_stdin: bool, stdin: TextIO,
                      prompt: Callable[[str], str] | None = None) -> str:
    """The new password, from stdin's first line or typed twice; CliError if refused."""
    prompt = prompt or getpass.getpass  # looked up now, so tests can replace it
    if from_stdin:
        password = stdin.readline().rstrip("\r\n")
    else:
        password = prompt("New password: ")
        if prompt("Repeat the password: ") != password:
            raise CliError("the two passwords differ; nothing was changed")
    try:
        check_password_policy(password)
    except ValueError as exc:
        raise CliError(f"{exc} (at least {MIN_PASSWORD_CHARS}); nothing was changed") from None
    return password


def _records_url(args: argparse.Namespace) -> str:
    if args.records_url:
        if urlsplit(args.records_url).password:
            raise SettingsError("--records-url contains a password; put it in the keyring "
                                "or TONYPI_DB_PASSWORD instead")
        return args.records_url
    return load_settings(args.config).records.url


def _list_users(users: UserRepository, out: TextIO) -> None:
    rows = [(u.username, u.email, u.role or "viewer", "yes" if u.is_active is not False
             else "no", u.created_at.strftime("%Y-%m-%d %H:%M UTC") if u.created_at else "")
            for u in users.list()]
    if not rows:
        out.write("no users yet; create the first admin with `tonypi-admin create-user "
                  "--role admin`\n")
        return
    header = ("USERNAME", "EMAIL", "ROLE", "ACTIVE", "CREATED")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths,
                                                                    strict=True)).rstrip()
                  + "\n")


def run(args: argparse.Namespace, database: Database, stdin: TextIO, out: TextIO,
        prompt: Callable[[str], str] | None = None,
        history: Callable[[], HistoryStore] | None = None) -> None:
    """Carry out one parsed command on `database`; CliError/RecordsError on refusal.

    `history` opens the history store, for a replay only."""
    if args.command == "dead-letters":
        run_dead_letters(args, database, out, history)
        return
    if args.command == "list-users":
        with database.session() as session:
            _list_users(UserRepository(session), out)
        return
    if args.command == "deactivate":
        with database.session() as session:
            UserRepository(session).set_active(args.username, False)
        out.write(f"user {args.username} deactivated\n")
        return
    # Checked before asking for a password, so a typo does not cost two prompts.
    with database.session() as session:
        exists = UserRepository(session).get(args.username) is not None
    if args.command == "create-user" and exists:
        raise CliError(f"user name {args.username!r} is already taken")
    if args.command == "set-password" and not exists:
        raise UnknownUser(f"no user named {args.username!r}")
    password = read_new_password(args.password_stdin, stdin, prompt)
    with database.session() as session:
        users = UserRepository(session)
        if args.command == "create-user":
            users.create(args.username, args.email, password, args.role)
            message = f"user {args.username} created with role {args.role}"
        else:
            users.set_password(args.username, password)
            message = f"password of {args.username} changed"
    out.write(message + "\n")


def _refuse_password_arguments(argv: list[str]) -> None:
    """Exit with a clear message (never echoing it) if a password was put on the command
    line, where `ps` and the shell history would keep it."""
    for arg in argv:
        if arg.startswith("--pass") and arg != "--password-stdin":
            sys.stderr.write("tonypi-admin: passwords are never taken from the command line "
                             "(other users can read it); type it at the prompt or pipe it "
                             "with --password-stdin\n")
            raise SystemExit(EXIT_USAGE)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    _refuse_password_arguments(argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        url = _records_url(args)
        password = get_secret("database")
        upgrade(url, password=password)
        database = Database(url, password=password)
    except (SettingsError, SecretUnavailable, ArgumentError) as exc:
        sys.stderr.write(f"tonypi-admin: {exc}\n")
        return EXIT_USAGE
    except RecordsError as exc:
        sys.stderr.write(f"tonypi-admin: {exc}\n")
        return EXIT_FAILED
    def history() -> HistoryStore:
        settings = load_settings(args.config)
        if args.records_url:  # the SQL history lives next to the records by default
            settings = replace(settings, records=replace(settings.records, url=url))
        return open_history_store(settings)

    try:
        run(args, database, sys.stdin, sys.stdout, history=history)
    except (CliError, InvalidRecord, RecordsError) as exc:
        sys.stderr.write(f"tonypi-admin: {exc}\n")
        return EXIT_FAILED
    except (KeyboardInterrupt, EOFError):
        sys.stderr.write("\ntonypi-admin: cancelled; nothing was changed\n")
        return EXIT_FAILED
    finally:
        database.dispose()
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
