"""IKE identities against certificates: RouterOS's ``my-id``, ``remote-id`` and ``match-by``.

An identity is an ID payload's type and data (RFC 7296 §3.5), written as RouterOS writes it:
``fqdn:gw.example``, ``user-fqdn:alice@example``, ``address:192.0.2.1``, ``dn:CN=gw,O=Example``,
``key-id:0x0102…``. The rules, from the manual's identities section and issue 12:

* ``my-id=auto`` with a certificate sends its first subjectAltName (dNSName as FQDN, iPAddress as an
  address, rfc822Name as user-FQDN), or the subject DN when it has none (:func:`auto_id`);
* a peer's ID is *bound* to its certificate (:func:`bound_to`): an FQDN equal, ignoring case, to a
  dNSName; an address byte-equal to an iPAddress; a user-FQDN equal to an rfc822Name (the domain part
  ignoring case); a DN equal to the subject by normalised RDNs (RFC 5280 §7.1: case and inner
  whitespace do not count); a key ID equal to the subjectKeyIdentifier or the SHA-1 of the public
  key (RFC 5280 §4.2.1.2 method 1). The CN never stands in for a missing SAN;
* ``remote-id`` (:func:`check_remote_id`): ``auto`` accepts any ID that is bound to the certificate;
  ``fqdn:``, ``user-fqdn:``, ``address:``, ``dn:``, ``key-id:`` also want that exact ID; ``ignore``
  skips both checks (the manual calls it dangerous);
* ``match-by=certificate`` with ``remote-certificate`` accepts exactly that certificate (DER equal,
  :func:`match_certificate`).

A ``dn:`` written by hand is compared in both RDN orders: RFC 4514 strings list the last RDN first,
strongSwan's and RouterOS's list the first first, and operators copy either.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from ipsecd.crypto import der
from ipsecd.crypto.errors import MalformedInputError
from ipsecd.wire.enums import IdType

__all__ = ["Identity", "auto_id", "bound_to", "check_remote_id", "match_certificate"]

NormalizedDn = tuple[frozenset[tuple[str, str]], ...]
_PREFIX = {
    "fqdn": IdType.ID_FQDN,
    "user-fqdn": IdType.ID_RFC822_ADDR,
    "dn": IdType.ID_DER_ASN1_DN,
    "key-id": IdType.ID_KEY_ID,
}
# DirectoryString tags (X.520) and how their octets decode
_SHORT = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.5": "serialNumber",
    "1.2.840.113549.1.9.1": "E",
    "0.9.2342.19200300.100.1.25": "DC",
}
_NAMES = {
    "E": NameOID.EMAIL_ADDRESS,
    "emailAddress": NameOID.EMAIL_ADDRESS,
    **{short: x509.ObjectIdentifier(oid) for oid, short in _SHORT.items()},
}
_NAMES.update({k.lower(): v for k, v in list(_NAMES.items())})
_RFC4514_NAMES = {x509.ObjectIdentifier(oid): short for oid, short in _SHORT.items()}
_STRING_TAGS = {
    0x0C: "utf-8",
    0x13: "ascii",
    0x16: "ascii",
    0x14: "latin-1",
    0x1E: "utf-16-be",
    0x1C: "utf-32-be",
}


class IdentityError(ValueError):
    """An identity that cannot be read (bad text form, malformed DN)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """An IKE identity: the ID payload's type and data."""

    id_type: IdType
    data: bytes

    @classmethod
    def parse(cls, text: str) -> Identity:
        """From RouterOS's ``kind:value`` form (``address:`` for both IP versions)."""
        kind, sep, value = text.partition(":")
        if not sep or not value:
            raise IdentityError(
                f"identity {text!r} is not kind:value (fqdn:, user-fqdn:, address:, dn:, key-id:)"
            )
        if kind == "address":
            try:
                ip = ipaddress.ip_address(value)
            except ValueError:
                raise IdentityError(f"identity {text!r}: {value!r} is not an IP address") from None
            return cls(IdType.ID_IPV4_ADDR if ip.version == 4 else IdType.ID_IPV6_ADDR, ip.packed)
        if kind == "dn":
            try:
                name = x509.Name.from_rfc4514_string(re.sub(r"(?<!\\),\s+", ",", value.strip()), _NAMES)
                return cls(IdType.ID_DER_ASN1_DN, name.public_bytes())
            except ValueError:
                raise IdentityError(f"identity {text!r} is not a distinguished name (CN=…,O=…)") from None
        if kind == "key-id":
            try:
                raw = bytes.fromhex(value[2:]) if value.lower().startswith("0x") else value.encode()
            except ValueError:
                raise IdentityError(f"identity {text!r}: not hexadecimal after 0x") from None
            return cls(IdType.ID_KEY_ID, raw)
        if kind not in _PREFIX:
            raise IdentityError(f"identity kind {kind!r} is not one of fqdn, user-fqdn, address, dn, key-id")
        return cls(_PREFIX[kind], value.encode())

    def __str__(self) -> str:
        """RouterOS's ``kind:value`` form, for logs and ``print``."""
        t = self.id_type
        if t in (IdType.ID_IPV4_ADDR, IdType.ID_IPV6_ADDR) and len(self.data) in (4, 16):
            return f"address:{ipaddress.ip_address(self.data)}"
        if t is IdType.ID_DER_ASN1_DN:
            try:
                return f"dn:{_dn_text(self.data)}"
            except IdentityError:
                return f"dn:0x{self.data.hex()}"
        if t is IdType.ID_KEY_ID:
            return f"key-id:0x{self.data.hex()}"
        kind = {IdType.ID_FQDN: "fqdn", IdType.ID_RFC822_ADDR: "user-fqdn"}.get(t, f"id{int(t)}")
        return f"{kind}:{self.data.decode('utf-8', 'replace')}"


def auto_id(cert: x509.Certificate) -> Identity:
    """``my-id=auto`` with a certificate: its first usable SAN, else its subject DN."""
    for name in _sans(cert):
        if isinstance(name, x509.DNSName):
            return Identity(IdType.ID_FQDN, name.value.encode("ascii"))
        if isinstance(name, x509.IPAddress) and not isinstance(
            name.value, ipaddress.IPv4Network | ipaddress.IPv6Network
        ):
            ip = name.value
            return Identity(IdType.ID_IPV4_ADDR if ip.version == 4 else IdType.ID_IPV6_ADDR, ip.packed)
        if isinstance(name, x509.RFC822Name):
            return Identity(IdType.ID_RFC822_ADDR, name.value.encode("ascii"))
    return Identity(IdType.ID_DER_ASN1_DN, cert.subject.public_bytes())


def _sans(cert: x509.Certificate) -> list[x509.GeneralName]:
    try:
        return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return []


def bound_to(identity: Identity, cert: x509.Certificate) -> bool:
    """Whether the certificate vouches for ``identity`` (the module docstring's rules)."""
    t, data = identity.id_type, identity.data
    sans = _sans(cert)
    if t is IdType.ID_FQDN:
        want = data.decode("ascii", "replace").rstrip(".").lower()
        return any(isinstance(n, x509.DNSName) and n.value.rstrip(".").lower() == want for n in sans)
    if t in (IdType.ID_IPV4_ADDR, IdType.ID_IPV6_ADDR):
        return any(
            isinstance(n, x509.IPAddress)
            and isinstance(n.value, ipaddress.IPv4Address | ipaddress.IPv6Address)
            and n.value.packed == data
            for n in sans
        )
    if t is IdType.ID_RFC822_ADDR:
        want_email = _email(data.decode("utf-8", "replace"))
        return any(isinstance(n, x509.RFC822Name) and _email(n.value) == want_email for n in sans)
    if t is IdType.ID_DER_ASN1_DN:
        try:
            return _parse_der_dn(data) == _normalize_name(cert.subject)
        except IdentityError:
            return False
    if t is IdType.ID_KEY_ID:
        return data in _key_ids(cert)
    return False


def _email(addr: str) -> str:
    local, _, domain = addr.rpartition("@")
    return f"{local}@{domain.lower()}" if local else addr.lower()


def _key_ids(cert: x509.Certificate) -> set[bytes]:
    ids = {x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest}
    try:
        ids.add(cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest)
    except x509.ExtensionNotFound:
        pass
    return ids


def check_remote_id(remote_id: str, peer: Identity, cert: x509.Certificate) -> str | None:
    """Why the peer's ID and certificate do not satisfy ``remote-id``, or None when they do."""
    if remote_id == "ignore":
        return None
    if remote_id != "auto":
        expected = Identity.parse(remote_id)
        if not _same_identity(expected, peer):
            return f"peer's ID is {peer}, remote-id expects {remote_id}"
    if not bound_to(peer, cert):
        return f"peer's ID {peer} is not in its certificate (subjectAltName {_describe_sans(cert)})"
    return None


def _same_identity(expected: Identity, peer: Identity) -> bool:
    if expected.id_type is not peer.id_type:
        return False
    if expected.id_type is IdType.ID_FQDN:
        return expected.data.rstrip(b".").lower() == peer.data.rstrip(b".").lower()
    if expected.id_type is IdType.ID_RFC822_ADDR:
        return _email(expected.data.decode("utf-8", "replace")) == _email(
            peer.data.decode("utf-8", "replace")
        )
    if expected.id_type is IdType.ID_DER_ASN1_DN:
        try:
            want, got = _parse_der_dn(expected.data), _parse_der_dn(peer.data)
        except IdentityError:
            return False
        return got in (want, tuple(reversed(want)))
    return expected.data == peer.data


def _describe_sans(cert: x509.Certificate) -> str:
    names = []
    for n in _sans(cert):
        if isinstance(n, x509.DNSName):
            names.append(f"DNS:{n.value}")
        elif isinstance(n, x509.IPAddress):
            names.append(f"IP:{n.value}")
        elif isinstance(n, x509.RFC822Name):
            names.append(f"email:{n.value}")
    return ",".join(names) or "none"


def match_certificate(expected: x509.Certificate, received: x509.Certificate) -> str | None:
    """``match-by=certificate``: only ``remote-certificate`` itself is accepted."""
    enc = serialization.Encoding.DER
    if expected.public_bytes(enc) == received.public_bytes(enc):
        return None
    fp = received.fingerprint(hashes.SHA256()).hex()
    return f"peer's certificate (fingerprint {fp[:16]}…) is not remote-certificate (match-by=certificate)"


# -- Distinguished Names ---------------------------------------------------------------------------


def _norm(value: str) -> str:
    return " ".join(value.split()).casefold()


def _normalize_name(name: x509.Name) -> NormalizedDn:
    return tuple(
        frozenset(
            (a.oid.dotted_string, _norm(a.value if isinstance(a.value, str) else a.value.hex())) for a in rdn
        )
        for rdn in name.rdns
    )


def _der_dn_attributes(data: bytes) -> list[list[tuple[str, str]]]:
    """A DER Name (SEQUENCE OF SET OF AttributeTypeAndValue): per RDN, (OID, text) pairs."""
    try:
        rdns = []
        for rdn in der.read_all(der.read_one(data, der.SEQUENCE).value):
            if rdn.tag != der.SET:
                raise MalformedInputError("RDN is not a SET")
            attrs = []
            for atv in der.read_all(rdn.value):
                parts = der.read_all(atv.value) if atv.tag == der.SEQUENCE else []
                if len(parts) != 2:
                    raise MalformedInputError("AttributeTypeAndValue is not a type and a value")
                encoding = _STRING_TAGS.get(parts[1].tag)
                text = parts[1].value.decode(encoding) if encoding else parts[1].value.hex()
                attrs.append((der.decode_oid(parts[0]), text))
            rdns.append(attrs)
        return rdns
    except (MalformedInputError, UnicodeDecodeError) as exc:
        raise IdentityError(f"malformed DER distinguished name: {exc}") from None


def _parse_der_dn(data: bytes) -> NormalizedDn:
    """A DER Name as normalised RDNs, comparable with :func:`_normalize_name`."""
    return tuple(frozenset((oid, _norm(text)) for oid, text in rdn) for rdn in _der_dn_attributes(data))


def _dn_text(data: bytes) -> str:
    """A DER Name as an RFC 4514 string (last RDN first), so that :meth:`Identity.parse` reads it
    back to the same name; with attribute values x509.Name refuses, the first-RDN-first form
    strongSwan prints."""
    rdns = _der_dn_attributes(data)
    try:
        name = x509.Name(
            [
                x509.RelativeDistinguishedName(
                    [x509.NameAttribute(x509.ObjectIdentifier(o), t) for o, t in rdn]
                )
                for rdn in rdns
            ]
        )
    except ValueError:
        return ", ".join("+".join(f"{_SHORT.get(o, o)}={t}" for o, t in rdn) for rdn in rdns)
    return name.rfc4514_string(_RFC4514_NAMES)
