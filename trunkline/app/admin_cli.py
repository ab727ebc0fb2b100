"""`trunkline admin create-user NAME --role ROLE` and `trunkline admin reset-password NAME`: web admin logins
from the shell (the password is read from standard input, one line), e.g. for a lost admin password."""
import argparse
import sys
from typing import TypeAlias

from sqlalchemy import select

from trunkline.app import schema
from trunkline.data.config import load_config
from trunkline.data.db import make_session_factory, session_scope
from trunkline.data.models import ROLES, AuditLog, User
from trunkline.webadmin.security import hash_password

MIN_PASSWORD = 10


Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_parser(sub: Subcommands) -> Subcommands:
    """Register the `admin` command and its login subcommands on the `trunkline` parser; returns its
    subcommands for more (backup, restore)."""
    a = sub.add_parser("admin", help="web admin logins (create-user, reset-password; password on stdin), "
                                     "backup and restore")
    a.add_argument("--config", help="TOML configuration file (the database to change)")
    asub = a.add_subparsers(dest="admin_command", required=True)
    c = asub.add_parser("create-user", help="create a login; the password is read from standard input")
    c.add_argument("name")
    c.add_argument("--role", required=True, choices=ROLES)
    c.set_defaults(func=_create_user)
    r = asub.add_parser("reset-password", help="set a login's password (read from standard input) and "
                                               "re-enable it")
    r.add_argument("name")
    r.set_defaults(func=_reset_password)
    return asub


def _password() -> str | None:
    line = sys.stdin.readline().rstrip("\r\n")
    if len(line) < MIN_PASSWORD:
        print(f"trunkline admin: the password (one line on standard input) needs at least {MIN_PASSWORD} "
              "characters", file=sys.stderr)
        return None
    return line


def _factory(args: argparse.Namespace):
    cfg = load_config(args.config)
    return make_session_factory(schema.migrate(cfg.database_url))


def _create_user(args: argparse.Namespace) -> int:
    name = args.name.strip()
    if not name or len(name) > 64:
        print("trunkline admin: NAME must be 1 to 64 characters", file=sys.stderr)
        return 2
    password = _password()
    if password is None:
        return 2
    with session_scope(_factory(args)) as s:
        if s.scalars(select(User).where(User.username == name)).first() is not None:
            print(f"trunkline admin: user {name!r} exists (use reset-password)", file=sys.stderr)
            return 1
        s.add(User(username=name, password_hash=hash_password(password), role=args.role))
        s.add(AuditLog(username="shell", action="user_create", target=f"user:{name}", detail=f"role={args.role}"))
    print(f"trunkline admin: user {name} created with role {args.role}")
    return 0


def _reset_password(args: argparse.Namespace) -> int:
    password = _password()
    if password is None:
        return 2
    with session_scope(_factory(args)) as s:
        u = s.scalars(select(User).where(User.username == args.name)).first()
        if u is None:
            print(f"trunkline admin: no user {args.name!r}", file=sys.stderr)
            return 1
        u.password_hash = hash_password(password)       # also ends the user's open sessions
        u.active = True
        s.add(AuditLog(username="shell", action="user_password", target=f"user:{u.username}",
                       detail="password reset from the shell"))
    print(f"trunkline admin: password of {args.name} reset")
    return 0
