"""XAuth (draft-beaulieu-ike-xauth-02), generic user name and password, both roles.

Gateway (``passive=yes``), after phase 1:

        REQUEST(XAUTH_TYPE=generic, XAUTH_USER_NAME, XAUTH_USER_PASSWORD)   -->
                              <--   REPLY(XAUTH_USER_NAME=u, XAUTH_USER_PASSWORD=p)
        SET(XAUTH_STATUS=OK|FAIL)                                           -->
                              <--   ACK(XAUTH_STATUS)

Users come from ``/ip ipsec user``. The password is compared in constant time against every user's
(so neither a wrong name nor a wrong password answers sooner), and never logged; user names are the
peer's text and are escaped wherever they are logged (the daemon's log functions escape details).
Client: the REPLY carries the identity's ``username``/``password``; the gateway's SET says whether
they were accepted, and our ACK echoes it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from ipsecd.wire.errors import WireError
from ipsecd.wire.ikev1.attributes import Attribute
from ipsecd.wire.ikev1.enums import CfgType
from ipsecd.wire.ikev1.modecfg import XAUTH_FAIL, XAUTH_GENERIC, XAUTH_OK, CfgAttr, empty, text
from ipsecd.wire.ikev1.payloads import AttributePayload

from .config import Xauth, XauthUser

MAX_NAME = 256  # longer user names are refused (and not logged whole)


@dataclass(frozen=True, slots=True)
class XauthQuestion:
    """``xauth-use-radius=yes``: the daemon asks RADIUS (an Access-Request with User-Name and
    User-Password, RFC 2865 PAP) and answers with ``ipsecd.ike.eap.server.RelayAnswer``."""

    user: bytes
    password: bytes = field(repr=False)
    calling_station_id: str = ""


def credentials(attr: AttributePayload) -> tuple[bytes, bytes] | None:
    """The user name and password of a REPLY (None when garbled or over-long)."""
    values = {a.type: a for a in attr.attributes}
    try:
        name = text(values[CfgAttr.XAUTH_USER_NAME]) if CfgAttr.XAUTH_USER_NAME in values else b""
        password = text(values[CfgAttr.XAUTH_USER_PASSWORD]) if CfgAttr.XAUTH_USER_PASSWORD in values else b""
    except WireError:
        return None
    return (name, password) if len(name) <= MAX_NAME else None


def request(identifier: int) -> AttributePayload:
    """The gateway's question: a generic user name and password."""
    return AttributePayload(
        CfgType.REQUEST,
        identifier,
        [
            Attribute(int(CfgAttr.XAUTH_TYPE), XAUTH_GENERIC),
            empty(CfgAttr.XAUTH_USER_NAME),
            empty(CfgAttr.XAUTH_USER_PASSWORD),
        ],
    )


def status(identifier: int, ok: bool, kind: CfgType = CfgType.SET) -> AttributePayload:
    return AttributePayload(
        kind, identifier, [Attribute(int(CfgAttr.XAUTH_STATUS), XAUTH_OK if ok else XAUTH_FAIL)]
    )


def is_xauth(attr: AttributePayload) -> bool:
    """The payload is XAuth's (a status SET, or a question about the user), not mode-config's."""
    return any(16520 <= a.type <= 16529 for a in attr.attributes)


def check(config: Xauth, attr: AttributePayload) -> tuple[XauthUser | None, str]:
    """The gateway's verdict on a REPLY: (the user, or None, and the user name as sent)."""
    got = credentials(attr)
    if got is None:
        return None, ""
    name_b, password = got
    name = name_b.decode("utf-8", "replace")
    found: XauthUser | None = None
    for user in config.users:  # every user is compared: the time does not tell which name exists
        same_name = hmac.compare_digest(user.name.encode(), name_b)
        same_password = hmac.compare_digest(user.password, password)
        if same_name and same_password and password:
            found = user
    return found, name


def answer(config: Xauth, attr: AttributePayload) -> AttributePayload:
    """The client's REPLY to the gateway's REQUEST: what it asked for that we have."""
    out: list[Attribute] = []
    for a in attr.attributes:
        if a.type == CfgAttr.XAUTH_TYPE:
            out.append(Attribute(int(CfgAttr.XAUTH_TYPE), XAUTH_GENERIC))
        elif a.type == CfgAttr.XAUTH_USER_NAME:
            out.append(Attribute(int(CfgAttr.XAUTH_USER_NAME), config.username.encode()))
        elif a.type == CfgAttr.XAUTH_USER_PASSWORD:
            out.append(Attribute(int(CfgAttr.XAUTH_USER_PASSWORD), config.password))
    return AttributePayload(CfgType.REPLY, attr.identifier, out)


def status_of(attr: AttributePayload) -> bool | None:
    """The gateway's XAUTH_STATUS in a SET (None when the SET carries none)."""
    for a in attr.attributes:
        if a.type == CfgAttr.XAUTH_STATUS:
            return isinstance(a.value, int) and a.value == XAUTH_OK
    return None
