"""Escaping of text a peer controls before it reaches a log line, an event or a view (issue 17, finding 6).

An IKE peer chooses its identity (RFC 7296 §3.5 ID payloads carry any octets: an ID_FQDN or ID_KEY_ID
may hold a newline or a terminal escape), its vendor IDs and notification data, and, later, EAP
identities. Logged raw, an unauthenticated peer writes lines of its own ("... IKE SA established")
or drives the operator's terminal. :func:`escape` is the one function that makes such text safe: every
character that is not printable (controls, line and paragraph separators, bidirectional overrides,
DEL, C1 controls) becomes a visible escape, and a backslash is doubled so that the escapes cannot be
forged either. Printable text is returned unchanged (and fast).
"""

from __future__ import annotations

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _one(ch: str) -> str:
    short = _SHORT.get(ch)
    if short is not None:
        return short
    if ch.isprintable():
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape(text: str | bytes) -> str:
    """``text`` with every non-printable character and backslash escaped; bytes are read as ASCII,
    other octets escaped as ``\\xNN``."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("latin-1")
        if text.isascii() and text.isprintable() and "\\" not in text:
            return text
        return "".join(_one(c) if c.isascii() else f"\\x{ord(c):02x}" for c in text)
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_one(c) for c in text)
