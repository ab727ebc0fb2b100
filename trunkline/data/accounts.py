"""First-run accounts: the admin login created when the database has no user yet."""
import secrets
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from trunkline.data.db import session_scope
from trunkline.data.models import AuditLog, User


def bootstrap(factory: Callable[[], Session], out: Callable[[str], object] = print) -> str | None:
    """On first run create user 'admin' with a random password printed once through `out`.

    Returns the generated password, or None when any user already exists.
    Never uses a default password; only the scrypt hash is stored.
    """
    with session_scope(factory) as s:
        if s.scalar(select(func.count()).select_from(User)):
            return None
        password = secrets.token_urlsafe(12)
        s.add(User(username="admin", password_hash=generate_password_hash(password), role="admin"))
        s.add(AuditLog(username="system", action="bootstrap", target="user:admin",
                       detail="first-run admin created"))
    out(f"trunkline: first-run admin account created: user 'admin', password '{password}' "
        "(shown once; change it in the web admin)")
    return password
