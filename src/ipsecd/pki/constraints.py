"""Name constraints (RFC 5280 §4.2.1.10, §6.1.3 (b)-(c)) for the names IKE identities use.

A CA's nameConstraints restrict every certificate below it in the path (self-issued intermediates
excepted): each of a certificate's names of a constrained type must lie in one of the permitted
subtrees of that type, and in none of the excluded ones. Checked here for the types IKE binds
identities to: dNSName (the constraint and its subdomains; a leading "." means subdomains only),
rfc822Name (a mailbox, a host, or with a leading "." a domain's subdomains), iPAddress (a network),
and directoryName (the constraint's RDNs are a prefix of the subject's). A constraint of another
type (URI, otherName …) does not restrict what it does not name; a certificate carrying a name of
such a constrained type is refused rather than half-checked.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from cryptography import x509

_CHECKED = (x509.DNSName, x509.RFC822Name, x509.IPAddress, x509.DirectoryName)


class NameConstraintViolation(Exception):
    """A name outside what a CA allows; the message names the name and the CA."""


def constraints_of(cert: x509.Certificate) -> x509.NameConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None


def check(cert: x509.Certificate, nc: x509.NameConstraints, ca_name: str) -> None:
    """NameConstraintViolation unless every name of ``cert`` satisfies ``nc`` (of CA ``ca_name``)."""
    names: list[x509.GeneralName] = [x509.DirectoryName(cert.subject)] if len(cert.subject) else []
    try:
        names += list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        pass
    permitted = list(nc.permitted_subtrees or ())
    excluded = list(nc.excluded_subtrees or ())
    for name in names:
        if not isinstance(name, _CHECKED):
            if any(type(c) is type(name) for c in (*permitted, *excluded)):
                raise NameConstraintViolation(f"{_show(name)} is of a constrained type ipsecd does not check")
            continue
        same = [c for c in permitted if type(c) is type(name)]
        if same and not any(_within(name, c) for c in same):
            raise NameConstraintViolation(f"{_show(name)} is outside the names CA {ca_name} permits")
        if any(_within(name, c) for c in excluded if type(c) is type(name)):
            raise NameConstraintViolation(f"{_show(name)} is among the names CA {ca_name} excludes")


def _show(name: x509.GeneralName) -> str:
    if isinstance(name, x509.DirectoryName):
        return f"DN {name.value.rfc4514_string()}"
    return f"{type(name).__name__} {name.value}"


def _within(name: x509.GeneralName, constraint: x509.GeneralName) -> bool:
    if isinstance(name, x509.DNSName) and isinstance(constraint, x509.DNSName):
        return _dns_within(name.value, constraint.value)
    if isinstance(name, x509.RFC822Name) and isinstance(constraint, x509.RFC822Name):
        return _email_within(name.value, constraint.value)
    if isinstance(name, x509.IPAddress) and isinstance(constraint, x509.IPAddress):
        net = constraint.value
        addr = name.value
        return (
            isinstance(net, ipaddress.IPv4Network | ipaddress.IPv6Network)
            and isinstance(addr, ipaddress.IPv4Address | ipaddress.IPv6Address)
            and addr.version == net.version
            and addr in net
        )
    if isinstance(name, x509.DirectoryName) and isinstance(constraint, x509.DirectoryName):
        return _dn_prefix(constraint.value.rdns, name.value.rdns)
    return False


def _dns_within(host: str, constraint: str) -> bool:
    host, constraint = host.lower().rstrip("."), constraint.lower().rstrip(".")
    if not constraint:
        return True
    if constraint.startswith("."):
        return host.endswith(constraint)
    return host == constraint or host.endswith("." + constraint)


def _email_within(mailbox: str, constraint: str) -> bool:
    local, _, host = mailbox.rpartition("@")
    if "@" in constraint:
        c_local, _, c_host = constraint.rpartition("@")
        return local == c_local and host.lower() == c_host.lower()
    if constraint.startswith("."):
        return host.lower().endswith(constraint.lower())
    return host.lower() == constraint.lower()


def _dn_prefix(
    prefix: Iterable[x509.RelativeDistinguishedName], rdns: Iterable[x509.RelativeDistinguishedName]
) -> bool:
    want, have = list(prefix), list(rdns)
    return len(want) <= len(have) and all(_rdn_equal(a, b) for a, b in zip(want, have, strict=False))


def _rdn_equal(a: x509.RelativeDistinguishedName, b: x509.RelativeDistinguishedName) -> bool:
    def norm(rdn: x509.RelativeDistinguishedName) -> frozenset[tuple[str, str]]:
        return frozenset((x.oid.dotted_string, " ".join(str(x.value).split()).casefold()) for x in rdn)

    return norm(a) == norm(b)
