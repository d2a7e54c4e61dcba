"""RouterOS value syntax for ``/ip ipsec``: parse text into typed Python values and print them back.

Every property of :mod:`.schema` has one :class:`ValueType`. A type turns the text a user writes
(``30m``, ``1w2d3h``, ``00:30:00``, ``10.0.0.0/24``, ``any``, ``aes-128,3des``, ``0x…`` secrets,
``fqdn:gw.example``) into a Python value and prints that value back the way RouterOS prints it, so
``format(parse(text))`` is the canonical text the store keeps and ``export`` writes. A bad value
raises :class:`ValueParseError` carrying what *is* allowed, which the caller turns into the one-line
message naming menu, property and value.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import NamedTuple

_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() and int() also take "²" and "1_0"
_INT = re.compile(r"-?[0-9]+|0[xX][0-9a-fA-F]+")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ValueParseError(ValueError):
    """Text that is not a value of the type; ``allowed`` says what would be."""

    def __init__(self, allowed: str) -> None:
        super().__init__(allowed)
        self.allowed = allowed


class ValueType:
    """Base: parse text to a Python value, format a value as RouterOS prints it."""

    #: Words the console offers for completion.
    choices: tuple[str, ...] = ()

    def parse(self, text: str) -> object:  # pragma: no cover - abstract
        raise NotImplementedError

    def format(self, value: object) -> str:
        return str(value)

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def canon(self, text: str) -> str:
        """The canonical text of ``text`` (what ``print`` shows and the store keeps)."""
        return self.format(self.parse(text))


class Str(ValueType):
    def __init__(self, min_len: int = 0, max_len: int = 255, pattern: str | None = None, what: str = "",
                 suggest: Sequence[str] = ()) -> None:
        self.min_len, self.max_len = min_len, max_len
        self.choices = tuple(suggest)  # special words RouterOS offers (``none``), for completion
        self.pattern = re.compile(pattern) if pattern else None
        self.what = what

    def parse(self, text: str) -> str:
        if not self.min_len <= len(text) <= self.max_len or (
            self.pattern and not self.pattern.fullmatch(text)
        ):
            raise ValueParseError(self.describe())
        return text

    def describe(self) -> str:
        return self.what or f"string of {self.min_len}..{self.max_len} characters"


DNS_NAME = Str(
    1, 253, r"(?:\*\.)?[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?", "DNS name"
)


class Secret(Str):
    """A secret string; text starting with ``0x`` is hexadecimal and parses to bytes (the manual)."""

    def parse(self, text: str) -> str | bytes:  # type: ignore[override]
        super().parse(text)
        if text[:2].lower() == "0x":
            try:
                return bytes.fromhex(text[2:])
            except ValueError:
                raise ValueParseError("string, or 0x followed by an even number of hex digits") from None
        return text

    def format(self, value: object) -> str:
        return "0x" + value.hex() if isinstance(value, bytes) else str(value)

    def describe(self) -> str:
        return "string, or 0x followed by an even number of hex digits"


class Hex(ValueType):
    """A hexadecimal string (``/ip ipsec key psk key``), optional ``0x``; parses to bytes."""

    def __init__(self, min_digits: int = 0) -> None:
        self.min_digits = min_digits

    def parse(self, text: str) -> bytes:
        digits = text[2:] if text[:2].lower() == "0x" else text
        if len(digits) < self.min_digits or len(digits) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", digits):
            raise ValueParseError(self.describe())
        return bytes.fromhex(digits)

    def format(self, value: object) -> str:
        assert isinstance(value, bytes)
        return value.hex()

    def describe(self) -> str:
        return f"hexadecimal string of at least {self.min_digits} digits (even count)"


class Bool(ValueType):
    choices = ("no", "yes")

    def parse(self, text: str) -> bool:
        if text in ("yes", "true"):
            return True
        if text in ("no", "false"):
            return False
        raise ValueParseError("yes | no")

    def format(self, value: object) -> str:
        return "yes" if value else "no"

    def describe(self) -> str:
        return "yes | no"


class Enum(ValueType):
    def __init__(self, *values: str) -> None:
        self.choices = values

    def parse(self, text: str) -> str:
        if text not in self.choices:
            raise ValueParseError(self.describe())
        return text

    def describe(self) -> str:
        return " | ".join(self.choices)


class EnumList(ValueType):
    """Comma-separated list of enum words; duplicates dropped, order kept (it is a preference)."""

    def __init__(self, *values: str, allow_empty: bool = False) -> None:
        self.choices = values
        #: ``""`` is a value of its own, not "back to the default" (a proposal's
        #: ``auth-algorithms=""``: no integrity algorithm, as AEAD ciphers need)
        self.allow_empty = allow_empty

    def parse(self, text: str) -> tuple[str, ...]:
        if text == "" and self.allow_empty:
            return ()
        items = [t.strip() for t in text.split(",")]
        if not items or any(t not in self.choices for t in items):
            raise ValueParseError(self.describe())
        return tuple(dict.fromkeys(items))

    def format(self, value: object) -> str:
        assert isinstance(value, tuple)
        return ",".join(value)

    def describe(self) -> str:
        return "comma-separated list of " + " | ".join(self.choices)


class Int(ValueType):
    def __init__(self, lo: int, hi: int, specials: Sequence[str] = ()) -> None:
        self.lo, self.hi = lo, hi
        self.choices = tuple(specials)

    def parse(self, text: str) -> int | str:
        if text in self.choices:
            return text
        if not _INT.fullmatch(text):
            raise ValueParseError(self.describe())
        value = int(text, 16) if text[:2].lower() == "0x" else int(text)
        if not self.lo <= value <= self.hi:
            raise ValueParseError(self.describe())
        return value

    def describe(self) -> str:
        return " | ".join([f"integer {self.lo}..{self.hi}", *self.choices])


class Port(Int):
    """``0..65535 | any``; ``any`` parses to None (matches every port)."""

    def __init__(self) -> None:
        super().__init__(0, 65535, ("any",))

    def parse(self, text: str) -> int | None:  # type: ignore[override]
        value = super().parse(text)
        return None if value == "any" else int(value)

    def format(self, value: object) -> str:
        return "any" if value is None else str(value)


_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_TIME_UNITS = re.compile(
    r"(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m(?!s))?(?:([0-9]+)s)?(?:([0-9]+)ms)?"
)
_TIME_CLOCK = re.compile(r"(?:([0-9]+)w)?(?:([0-9]+)d ?)?([0-9]+):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?")


def parse_seconds(text: str) -> int:
    """RouterOS time text to whole seconds: ``1w2d3h4m5s``, ``00:30:00``, ``1d 02:00:00``, ``90``."""
    if _DIGITS.fullmatch(text):
        return int(text)
    m = _TIME_CLOCK.fullmatch(text)
    if m:
        w, d, h, mi, s = (int(x) if x else 0 for x in m.groups())
        if mi > 59 or s > 59:
            raise ValueParseError("time")
        return w * 604800 + d * 86400 + h * 3600 + mi * 60 + s
    m = _TIME_UNITS.fullmatch(text)
    if text and m:
        w, d, h, mi, s, ms = (int(x) if x else 0 for x in m.groups())
        return w * 604800 + d * 86400 + h * 3600 + mi * 60 + s + ms // 1000
    raise ValueParseError("time")


def format_seconds(seconds: int) -> str:
    """Seconds as RouterOS prints a time: ``1w2d3h4m5s``, ``0s`` for zero."""
    if seconds == 0:
        return "0s"
    out = []
    for unit, size in _UNITS.items():
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out)


class Time(ValueType):
    """A time interval in whole seconds, optionally with special words (``disable-dpd``)."""

    def __init__(self, lo: int = 0, hi: int = 2**32, specials: Sequence[str] = ()) -> None:
        self.lo, self.hi = lo, hi
        self.choices = tuple(specials)

    def parse(self, text: str) -> int | str:
        if text in self.choices:
            return text
        try:
            seconds = parse_seconds(text)
        except ValueParseError:
            raise ValueParseError(self.describe()) from None
        if not self.lo <= seconds <= self.hi:
            raise ValueParseError(self.describe())
        return seconds

    def format(self, value: object) -> str:
        if isinstance(value, str):
            return value
        assert isinstance(value, int)
        return format_seconds(value)

    def describe(self) -> str:
        upper = format_seconds(self.hi) if self.hi < 2**32 else ""
        span = f"time {format_seconds(self.lo)}..{upper} (e.g. 30m, 1d, 1w2d3h, 00:30:00)"
        return " | ".join([span, *self.choices])


class Millis(ValueType):
    """A time interval in milliseconds (``/radius timeout=300ms``): RouterOS's time text with ``ms``,
    ``1s500ms``, ``2s``; a bare number is milliseconds. Printed as RouterOS prints it (``300ms``)."""

    def __init__(self, lo: int = 0, hi: int = 2**32) -> None:
        self.lo, self.hi = lo, hi

    def parse(self, text: str) -> int:
        m = _TIME_UNITS.fullmatch(text)
        if _DIGITS.fullmatch(text):
            millis = int(text)
        elif text and m is not None:
            w, d, h, mi, s, ms = (int(x) if x else 0 for x in m.groups())
            millis = (w * 604800 + d * 86400 + h * 3600 + mi * 60 + s) * 1000 + ms
        else:
            raise ValueParseError(self.describe())
        if not self.lo <= millis <= self.hi:
            raise ValueParseError(self.describe())
        return millis

    def format(self, value: object) -> str:
        assert isinstance(value, int)
        seconds, ms = divmod(value, 1000)
        whole = format_seconds(seconds) if seconds else ""
        return whole + (f"{ms}ms" if ms or not whole else "")

    def describe(self) -> str:
        return f"time {self.format(self.lo)}..{self.format(self.hi)} (e.g. 300ms, 1s500ms, 3s)"


def _parse_address(text: str) -> IPAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ValueParseError("IPv4 or IPv6 address") from None


class Address(ValueType):
    """An IPv4 or IPv6 address; ``v4_only`` where RouterOS takes ``A.B.C.D`` only (mode-config)."""

    def __init__(self, v4_only: bool = False) -> None:
        self.v4_only = v4_only

    def parse(self, text: str) -> IPAddress:
        value = _parse_address(text)
        if self.v4_only and value.version != 4:
            raise ValueParseError(self.describe())
        return value

    def describe(self) -> str:
        return "IPv4 address" if self.v4_only else "IPv4 or IPv6 address"


class Prefix(ValueType):
    """IPv4/IPv6 prefix; a bare address means the host prefix; host bits are cleared as RouterOS does.
    ``v4_only`` where RouterOS takes ``A.B.C.D/M`` only (mode-config ``split-include``)."""

    def __init__(self, v4_only: bool = False) -> None:
        self.v4_only = v4_only

    def parse(self, text: str) -> IPNetwork:
        try:
            value = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueParseError(self.describe()) from None
        if self.v4_only and value.version != 4:
            raise ValueParseError(self.describe())
        return value

    def describe(self) -> str:
        return "IPv4 prefix (address/length)" if self.v4_only else "IPv4 or IPv6 prefix (address/length)"


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


class HostOrPrefix(Prefix):
    """A peer's ``address``: a prefix, or a DNS name (dynamic DNS site-to-site, ``branch1.sn.mynetname.net``)
    that the daemon resolves, as RouterOS 7 does. Parses to the network, or the name in lower case;
    a name must be a valid host name (RFC 1123 §2.1) whose last label is not all digits, so a
    mistyped address (``10.0.0.300``) is still refused."""

    def parse(self, text: str) -> IPNetwork | str:  # type: ignore[override]
        try:
            return super().parse(text)
        except ValueParseError:
            labels = text.rstrip(".").split(".")
            if (len(text) <= 253 and len(labels) > 1 and all(_LABEL.fullmatch(x) for x in labels)
                    and not labels[-1].isdigit()):
                return text.rstrip(".").lower()
            raise ValueParseError(self.describe()) from None

    def describe(self) -> str:
        return "IPv4 or IPv6 prefix (address/length) or DNS name"


class ListOf(ValueType):
    """Comma-separated list of another type's values."""

    def __init__(self, item: ValueType) -> None:
        self.item = item

    def parse(self, text: str) -> tuple[object, ...]:
        if text == "":
            return ()
        try:
            return tuple(self.item.parse(t.strip()) for t in text.split(","))
        except ValueParseError:
            raise ValueParseError(self.describe()) from None

    def format(self, value: object) -> str:
        assert isinstance(value, tuple)
        return ",".join(self.item.format(v) for v in value)

    def describe(self) -> str:
        return "comma-separated list of " + self.item.describe()


class AddressRange(ValueType):
    """An ``/ip pool`` range: ``10.0.0.2-10.0.0.254``, a prefix, or one address; parses to (first, last)."""

    def parse(self, text: str) -> tuple[IPAddress, IPAddress]:
        try:
            if "-" in text:
                a, b = (ipaddress.ip_address(t) for t in text.split("-", 1))
            elif "/" in text:
                net = ipaddress.ip_network(text, strict=False)
                a, b = net[0], net[-1]
            else:
                a = b = ipaddress.ip_address(text)
        except ValueError:
            raise ValueParseError(self.describe()) from None
        if a.version != b.version or a > b:  # type: ignore[operator]
            raise ValueParseError(self.describe())
        return (a, b)

    def format(self, value: object) -> str:
        assert isinstance(value, tuple)
        a, b = value
        return str(a) if a == b else f"{a}-{b}"

    def describe(self) -> str:
        return "address range first-last, prefix or address"


#: RouterOS's protocol names and their IANA numbers ("all" is any protocol, 0 in a selector).
PROTOCOL_NUMBERS = {
    "all": 0, "dccp": 33, "ddp": 37, "egp": 8, "encap": 98, "etherip": 97, "ggp": 3, "gre": 47, "hmp": 20,
    "icmp": 1, "icmpv6": 58, "idpr-cmtp": 38, "igmp": 2, "ipencap": 4, "ipip": 94, "ipsec-ah": 51,
    "ipsec-esp": 50, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-nonxt": 59, "ipv6-opts": 60, "ipv6-route": 43,
    "iso-tp4": 29, "l2tp": 115, "ospf": 89, "pim": 103, "pup": 12, "rdp": 27, "rspf": 73, "rsvp": 46,
    "sctp": 132, "st": 5, "tcp": 6, "udp": 17, "udp-lite": 136, "vmtp": 81, "vrrp": 112, "xns-idp": 22,
    "xtp": 36,
}
PROTOCOLS = tuple(PROTOCOL_NUMBERS)


PROTOCOL_NAMES = {n: name for name, n in PROTOCOL_NUMBERS.items() if n}


def protocol_text(value: object) -> str:
    """A protocol as RouterOS prints it: its name when it has one (``47`` → ``gre``), else the number."""
    text = str(value)
    return PROTOCOL_NAMES.get(int(text), text) if _DIGITS.fullmatch(text) else text


class Protocol(ValueType):
    """IP protocol by RouterOS name or number 0..255; parses to the name RouterOS prints (``47`` is
    ``gre``), or the number as text when the protocol has no name."""

    choices = PROTOCOLS

    def parse(self, text: str) -> str:
        if text in PROTOCOLS:
            return text
        if _DIGITS.fullmatch(text) and int(text) <= 255:
            return protocol_text(int(text))
        raise ValueParseError(self.describe())

    def describe(self) -> str:
        return " | ".join(PROTOCOLS) + " | integer 0..255"


class Identity(NamedTuple):
    """A ``my-id``/``remote-id`` value: kind (auto, address, fqdn, user-fqdn, key-id, dn, ignore) and
    value."""

    kind: str
    value: str | IPAddress | None = None


class IdentityType(ValueType):
    """RouterOS identity syntax: bare ``auto``/``address``/``ignore`` or ``kind:value``."""

    def __init__(self, bare: Sequence[str], typed: Sequence[str]) -> None:
        self.bare, self.typed = tuple(bare), tuple(typed)
        self.choices = (*self.bare, *(t + ":" for t in self.typed))

    def parse(self, text: str) -> Identity:
        if text in self.bare:
            return Identity(text)
        kind, sep, value = text.partition(":")
        if sep and kind in self.typed and value:
            if kind == "address":
                return Identity(kind, _parse_address(value))
            if kind == "user-fqdn" and "@" not in value:
                raise ValueParseError(self.describe())
            return Identity(kind, value)
        raise ValueParseError(self.describe())

    def format(self, value: object) -> str:
        assert isinstance(value, Identity)
        return value.kind if value.value is None else f"{value.kind}:{value.value}"

    def describe(self) -> str:
        return " | ".join([*self.bare, *(t + ":VALUE" for t in self.typed)])


class Ref(ValueType):
    """The name of an object of another menu (checked by the store), or one of ``specials``."""

    def __init__(self, menu: str, specials: Sequence[str] = ()) -> None:
        self.menu = menu
        self.choices = tuple(specials)

    def parse(self, text: str) -> str:
        if not text:
            raise ValueParseError(self.describe())
        return text

    def describe(self) -> str:
        return " | ".join([*self.choices, f"name of an item of {self.menu}"])


# -- quoting ---------------------------------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z0-9_.:/@,*+\-]+")


def quote(text: str, always: bool = False) -> str:
    """Quote a string for scripts the way RouterOS exports it (only when needed, unless ``always``)."""
    if not always and _PLAIN.fullmatch(text):
        return text
    out = []
    for ch in text:
        if ch in '"\\$?':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):02X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
