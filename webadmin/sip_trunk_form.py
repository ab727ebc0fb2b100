"""The SIP trunks page (/config/table/sip_trunks) and its JSON API (/api/config/sip_trunks): a typed form over
``sip_trunks`` (peer host and port, UDP/TCP, credentials, registration, codec order, inbound auth or trust by
address), registered with webadmin.forms. The password is a secret: never shown back, kept when left empty on
edit. Trunks from the config file are listed read-only and their names cannot be taken. On every save the
running server's SIP spans take the new trunk list at once (Hub.sip_trunks.reload, called by typed_pages)."""
from __future__ import annotations

import ipaddress
import re
from typing import Any

from flask import current_app, has_app_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from trunkline.drivers.sip.config import SipTrunk
from trunkline.drivers.sip.trunk_models import CODEC_ORDERS, SipTrunkRow

from .forms import CHECKS, EXTRA_ROWS, FORMS, NAME, Field

HOST_NAME = re.compile(r"(?=.{1,128}$)[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*\.?")
USER = re.compile(r"[A-Za-z0-9_.!~*'()&=+$,;?/%\-]{1,64}")


def _host(text: str) -> str | None:
    try:
        ipaddress.ip_address(text)
        return None
    except ValueError:
        pass
    if HOST_NAME.fullmatch(text):
        return None
    return _("Not a host name or IP address.")


def _user(text: str) -> str | None:
    return None if USER.fullmatch(text) else _("Not a SIP user name (letters, digits and - _ . at most 64).")


FIELDS = [
    Field("name", _l("Name"), required=True, pattern=NAME, key_field=True),
    Field("host", _l("Peer host or registrar (name or IP address)"), check=_host),
    Field("port", _l("Port"), "int", 1, 65535, required=True, default=5060),
    Field("transport", _l("Transport"), "select", required=True, choices=lambda s: ["UDP", "TCP"], default="UDP"),
    Field("username", _l("User name"), check=_user),
    Field("password", _l("Password"), "secret"),
    Field("register", _l("Register with the peer"), "bool", default=False),
    Field("register_expires", _l("Registration expiry (s)"), "int", 60, 86400, required=True, default=300),
    Field("inbound_auth", _l("Calls from it must authenticate (else trusted by address)"), "bool", default=False),
    Field("outbound", _l("Outbound calls may use it"), "bool", default=True),
    Field("codecs", _l("Codecs (in order of preference)"), "select", required=True,
          choices=lambda s: list(CODEC_ORDERS), default="PCMA,PCMU"),
    Field("enabled", _l("Enabled"), "bool", default=True),
]

#: the generic page list entry (webadmin.config.TABLES): model, title, columns
TABLE: tuple[Any, Any, list[str]] = (SipTrunkRow, _l("SIP trunks"), [f.key for f in FIELDS])


def _trunk_set() -> Any:
    hub = current_app.config.get("HUB") if has_app_context() else None
    return getattr(hub, "sip_trunks", None)


def file_trunk_names() -> set[str]:
    """Names of the running server's trunks from the config file (and peer nodes)."""
    trunks = _trunk_set()
    return set(trunks.file_names) if trunks is not None else set()


def file_rows() -> list[dict[str, Any]]:
    """The config file's trunks, shown read-only above the table (no secrets)."""
    trunks = _trunk_set()
    return [r for r in trunks.listing() if r["source"] == "file"] if trunks is not None else []


def check_trunk(values: dict[str, Any], s: Session, errors: dict[str, str]) -> None:
    """What the SIP stack needs: a free name, a host to reach or trust, credentials to register or to check."""
    name = str(values.get("name") or "")
    if name and name in file_trunk_names():
        errors["name"] = _("The config file already defines a SIP trunk with this name.")
    register, inbound_auth = bool(values.get("register")), bool(values.get("inbound_auth"))
    if "host" in values and not values["host"] and (register or not inbound_auth):
        errors["host"] = (_("A registering trunk needs its registrar's host.") if register else
                          _("A trunk trusted by address needs the peer's host."))
    if (register or inbound_auth) and "username" in values and not values["username"]:
        errors["username"] = _("Registration and inbound authentication need a user name.")
    if register or inbound_auth:
        if "password" in values:                     # typed (create, or a new one on edit): not empty
            missing = not values["password"]
        else:                                        # left empty on edit: the stored one is kept
            stored = s.get(SipTrunkRow, name) if name else None
            missing = stored is not None and not stored.password
        if missing:
            errors["password"] = _("Registration and inbound authentication need a password.")
    if errors:
        return
    try:
        SipTrunk.from_dict({k: values[k] for k in ("name", "host", "port", "transport", "username", "register",
                                                   "register_expires", "inbound_auth", "outbound") if k in values})
    except (ValueError, TypeError) as exc:
        errors[""] = _("The SIP stack refuses this trunk: %(why)s", why=str(exc))


FORMS["sip_trunks"] = (SipTrunkRow, FIELDS)
CHECKS["sip_trunks"] = check_trunk
EXTRA_ROWS["sip_trunks"] = file_rows
