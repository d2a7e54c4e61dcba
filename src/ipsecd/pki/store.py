"""The certificate store, as RouterOS's System/Certificates (``/certificate``) has it.

Entries are named certificates, each with its private key when we hold one, a ``trusted`` mark (a
trusted CA is a trust anchor for peers' chains) and, for certificates made here, the template of
``add`` and the CA that signed it. CRLs sit beside them. The store answers ``print`` (:meth:`rows`,
with RouterOS's fields and flags K private-key, A authority, I issued, R revoked, E expired,
T trusted), imports files (:mod:`.formats`), issues certificates (:mod:`.issue`), exports them, and
gives the IKE side what it needs: our chain, our key, the anchors, and peer chain validation
(:mod:`.verify`) with the store's CAs and CRLs.

Persistence (when the store has a directory): one PEM file per certificate and CRL, private keys
as PKCS#8 PEM in files created 0600 (the directory 0700), so only the daemon's user reads them, and
an ``index.json`` with names, flags and templates, written atomically. Private keys never appear in
:meth:`rows` or in ``repr``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ipsecd.crypto.sig import PrivateKey
from ipsecd.util.bounded import BoundedCache

from . import formats, issue
from .describe import describe
from .verify import CertificateRefused, Refusal, ValidatedChain, ValidationPolicy, validate

Clock = Callable[[], dt.datetime]
_ChainKey = tuple[tuple[bytes, ...], str]
VALIDATED_CACHE = 512


class StoreError(ValueError):
    """A refused store command; the message is the one line the operator sees."""


def _spki(public_key: object) -> bytes:
    """A public key's DER SubjectPublicKeyInfo (to tell whether a certificate is for a key)."""
    return public_key.public_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(slots=True)
class Entry:
    """One ``/certificate`` item: a template awaiting ``sign``, or a certificate."""

    name: str
    cert: x509.Certificate | None = None
    key: PrivateKey | None = field(default=None, repr=False)
    trusted: bool = False
    template: issue.Template | None = None
    ca: str = ""


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What one ``import`` added (RouterOS prints these counts)."""

    certificates: list[str]
    keys: int
    crls: int
    skipped: int


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def store_directory(db: str) -> Path:
    """Where a daemon's ``/certificate`` store lives: the directory ``certificates`` beside its
    database (``--db``); the daemon and ``ipsecd exec`` without a daemon both open it there."""
    return Path(os.path.dirname(os.path.abspath(db))) / "certificates"


class CertificateStore:
    """Named certificates with keys and trust, plus CRLs; see the module docstring."""

    def __init__(self, directory: Path | None = None, clock: Clock = _utcnow) -> None:
        self.directory = directory
        self.clock = clock
        self._entries: dict[str, Entry] = {}
        self._crls: list[x509.CertificateRevocationList] = []
        self.crl_use = False
        # chains that validated, until a certificate or CRL of theirs runs out or the store changes:
        # a peer reconnecting (and the benchmark's thousands of IKE_AUTHs) is not re-checked each time
        self._validated: BoundedCache[_ChainKey, tuple[ValidatedChain, dt.datetime, dt.datetime]] = (
            BoundedCache(VALIDATED_CACHE)
        )
        if directory is not None:
            self._load()

    # -- queries -----------------------------------------------------------------------------------

    def names(self) -> list[str]:
        return list(self._entries)

    def get(self, name: str) -> Entry:
        entry = self._entries.get(name)
        if entry is None:
            raise StoreError(f"no certificate named {name!r}: import or add it first")
        return entry

    def certificate(self, name: str) -> x509.Certificate:
        entry = self.get(name)
        if entry.cert is None:
            raise StoreError(f"certificate {name!r} is not signed yet: sign it first")
        return entry.cert

    def private_key(self, name: str) -> PrivateKey:
        """Our key for ``certificate=name``; StoreError when we hold none."""
        key = self.get(name).key
        if key is None:
            raise StoreError(f"certificate {name!r} has no private key: import its key")
        return key

    def crls(self) -> list[x509.CertificateRevocationList]:
        return list(self._crls)

    def anchors(self) -> list[x509.Certificate]:
        """Trusted certificates: where a peer's chain may end."""
        return [e.cert for e in self._entries.values() if e.trusted and e.cert is not None]

    def authorities(self) -> list[x509.Certificate]:
        """Every CA certificate in the store, trusted or not (intermediates for path building)."""
        return [e.cert for e in self._entries.values() if e.cert is not None and _is_ca(e.cert)]

    def chain(self, name: str) -> list[x509.Certificate]:
        """Our certificate and the CAs above it up to (without) a self-signed root, for CERT payloads."""
        chain = [self.certificate(name)]
        cas = self.authorities()
        while len(chain) <= 8:
            tip = chain[-1]
            up = next((c for c in cas if c.subject == tip.issuer and c not in chain), None)
            if up is None or up.subject == up.issuer:
                break
            chain.append(up)
        return chain

    def key_ids(self) -> list[bytes]:
        """CERTREQ contents: SHA-1 of each trusted CA's SubjectPublicKeyInfo (RFC 7296 §3.7)."""
        return [spki_sha1(c) for c in self.anchors() if _is_ca(c)]

    def validate_peer(self, chain: Sequence[bytes], remote_certificate: str = "") -> ValidatedChain:
        """Validate the peer's CERT payloads (DER, end entity first) against the store's anchors,
        CAs and CRLs at the store's clock, under its ``crl-use``; with no chain,
        ``remote-certificate`` stands in."""
        now = self.clock()
        key = (tuple(chain), remote_certificate)
        hit = self._validated.get(key)
        if hit is not None and hit[1] <= now <= hit[2]:
            return hit[0]
        result = self._validate(chain, remote_certificate, now)
        self._validated[key] = (result, *_window(result, self.crl_use))
        return result

    def _validate(self, chain: Sequence[bytes], remote_certificate: str, now: dt.datetime) -> ValidatedChain:
        try:
            certs = [formats.parse_certificate(d) for d in chain]
        except ValueError:
            raise CertificateRefused(
                Refusal.UNSUPPORTED, "peer sent a certificate that does not parse"
            ) from None
        if not certs:
            if not remote_certificate:
                raise CertificateRefused(
                    Refusal.UNKNOWN_CA, "peer sent no certificate and remote-certificate is unset"
                )
            certs = [self.certificate(remote_certificate)]
        policy = ValidationPolicy(crl_use=self.crl_use)
        return validate(certs[0], [*certs[1:], *self.authorities()], self.anchors(), self._crls, now, policy)

    def rows(self) -> list[dict[str, str]]:
        """``/certificate print`` rows (never a private key)."""
        now = self.clock()
        return [
            describe(e.name, e.cert, e.template, e.key is not None, e.trusted, e.ca, self._crls, now)
            for e in self._entries.values()
        ]

    def crl_rows(self) -> list[dict[str, str]]:
        """``/certificate crl print`` rows."""
        return [
            {
                "issuer": crl.issuer.rfc4514_string(),
                "this-update": _when(crl.last_update_utc),
                "next-update": _when(crl.next_update_utc) if crl.next_update_utc else "",
                "revoked": str(len(list(crl))),
                "fingerprint": crl.fingerprint(hashes.SHA256()).hex(),
            }
            for crl in self._crls
        ]

    # -- commands ----------------------------------------------------------------------------------

    def import_file(
        self, path: Path, passphrase: str = "", name: str = "", trusted: bool | None = None
    ) -> ImportResult:
        """``import file-name=… passphrase=… [name=…] [trusted=…]``."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror}") from None
        return self.import_bytes(data, passphrase, name or path.name, trusted, default_names=not name)

    def import_bytes(
        self,
        data: bytes,
        passphrase: str,
        name: str,
        trusted: bool | None = None,
        default_names: bool = False,
    ) -> ImportResult:
        try:
            loaded = formats.load(data, passphrase)
        except formats.FormatError as exc:
            raise StoreError(f"import of {name}: {exc}") from None
        existing = {e.cert for e in self._entries.values() if e.cert is not None}
        fresh = [c for c in dict.fromkeys(loaded.certificates) if c not in existing]
        owners = [self._owner(key, fresh) for key in loaded.keys]  # refuse before changing anything
        added = []
        # ``import name=web`` of one new certificate while ``web`` exists renews ``web`` in place (its
        # key kept if the new certificate is for it), so what names it (an identity, an /ip service)
        # serves the new one without being changed (issue 14)
        renewed = self._entries.get(name) if not default_names and len(fresh) == 1 else None
        for i, cert in enumerate(fresh):
            if renewed is not None:
                key = renewed.key
                if key is not None and _spki(key.public_key()) != _spki(cert.public_key()):
                    key = None
                self._entries[name] = Entry(name, cert, key, renewed.trusted if trusted is None else trusted)
                added.append(name)
                continue
            entry_name = self._free_name(f"{name}_{i}" if default_names or i else name)
            self._entries[entry_name] = Entry(
                entry_name, cert, trusted=_is_ca(cert) if trusted is None else trusted
            )
            added.append(entry_name)
        for key, owner in zip(loaded.keys, owners, strict=True):
            entry = next(e for e in self._entries.values() if e.cert == owner)
            entry.key = key
        old = {c.tbs_certlist_bytes for c in self._crls}
        new_crls = [c for c in loaded.crls if c.tbs_certlist_bytes not in old]
        self._crls.extend(new_crls)
        self._save()
        return ImportResult(added, len(loaded.keys), len(new_crls), len(loaded.certificates) - len(fresh))

    def _owner(self, key: PrivateKey, fresh: list[x509.Certificate]) -> x509.Certificate:
        """The certificate (in the store or in the same file) whose public key is ``key``'s."""
        public = key.public_key()
        for cert in [*(e.cert for e in self._entries.values() if e.cert is not None), *fresh]:
            if cert.public_key() == public:
                return cert
        raise StoreError("private key matches no certificate in the store: import its certificate first")

    def _free_name(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self._entries:
            candidate, n = f"{name}_{n}", n + 1
        return candidate

    def add(self, name: str, template: issue.Template) -> None:
        """``add name=… common-name=…``: a template that ``sign`` turns into a certificate."""
        if name in self._entries:
            raise StoreError(f"a certificate named {name!r} already exists")
        template.subject()
        self._entries[name] = Entry(name, template=template)
        self._save()

    def sign(self, name: str, ca: str = "") -> list[str]:
        """``sign name [ca=…]``: make the key and certificate; the warnings Windows clients would have."""
        entry = self.get(name)
        if entry.cert is not None or entry.template is None:
            raise StoreError(f"certificate {name!r} is already signed")
        template = entry.template
        authority = (self.certificate(ca), self.private_key(ca)) if ca else None
        try:
            key = issue.generate_key(template.key_type, template.key_size)
            cert = issue.issue(template, key, self.clock(), secrets.randbits(63) | 1, authority)
        except issue.IssueError as exc:
            raise StoreError(str(exc)) from None
        entry.cert, entry.key, entry.ca = cert, key, ca
        entry.trusted = ca == "" and _is_ca(cert)
        self._save()
        is_server = not _is_ca(cert) and "tls-server" in (template.key_usage or issue.DEFAULT_KEY_USAGE)
        return issue.gateway_warnings(cert) if is_server else []

    def set_trusted(self, name: str, trusted: bool) -> None:
        self.certificate(name)
        self._entries[name].trusted = trusted
        self._save()

    def remove(self, name: str, used_by: Sequence[str] = ()) -> None:
        """``remove``: refused while an identity (``used_by`` names it) refers to the certificate."""
        self.get(name)
        if used_by:
            raise StoreError(f"certificate {name!r} is used by identity {used_by[0]}: change that first")
        del self._entries[name]
        self._save()

    def export(self, name: str, kind: str = "pem", passphrase: str = "") -> dict[str, bytes]:
        """``export-certificate name type=pem|pkcs12 [export-passphrase=…]``: file name → content."""
        entry = self.get(name)
        cert = self.certificate(name)
        try:
            if kind == "pem":
                return {
                    f"{name}.{ext}": data
                    for ext, data in formats.export_pem(cert, entry.key, passphrase).items()
                }
            if kind == "pkcs12":
                chain = self.chain(name)[1:]
                return {f"{name}.p12": formats.export_pkcs12(name, cert, entry.key, chain, passphrase)}
        except formats.FormatError as exc:
            raise StoreError(str(exc)) from None
        raise StoreError(f"type={kind}: export as pem or pkcs12")

    # -- persistence ---------------------------------------------------------------------------------

    def set_crl_use(self, crl_use: bool) -> None:
        """``/certificate settings set crl-use=…``: require a current CRL of every issuer."""
        self.crl_use = crl_use
        self._save()

    def _save(self) -> None:
        """After every change: forget validated chains, then persist (with a directory)."""
        self._validated.clear()
        if self.directory is None:
            return
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        items: list[dict[str, object]] = []
        keep = {"index.json"}
        for entry in self._entries.values():
            item: dict[str, object] = {"name": entry.name, "trusted": entry.trusted, "ca": entry.ca}
            if entry.template is not None:
                item["template"] = asdict(entry.template)
            if entry.cert is not None:
                fp = entry.cert.fingerprint(hashes.SHA256()).hex()
                item["file"] = self._keep(
                    f"{fp}.crt", entry.cert.public_bytes(serialization.Encoding.PEM), keep
                )
                if entry.key is not None:
                    pem = entry.key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                    item["key"] = self._keep(f"{fp}.key", pem, keep)
            items.append(item)
        crl_files = [
            self._keep(
                f"{c.fingerprint(hashes.SHA256()).hex()}.crl",
                c.public_bytes(serialization.Encoding.PEM),
                keep,
            )
            for c in self._crls
        ]
        _write(
            self.directory / "index.json",
            json.dumps(
                {"certificates": items, "crls": crl_files, "crl-use": self.crl_use}, indent=1
            ).encode(),
        )
        for stale in self.directory.iterdir():
            if stale.suffix in (".crt", ".key", ".crl") and stale.name not in keep:
                stale.unlink()

    def _keep(self, file_name: str, data: bytes, keep: set[str]) -> str:
        assert self.directory is not None
        _write(self.directory / file_name, data)
        keep.add(file_name)
        return file_name

    def _load(self) -> None:
        assert self.directory is not None
        path = self.directory / "index.json"
        if not path.exists():
            return
        index = json.loads(path.read_text())
        for item in index["certificates"]:
            entry = Entry(item["name"], trusted=item["trusted"], ca=item.get("ca", ""))
            if "template" in item:
                t = item["template"]
                entry.template = issue.Template(
                    **{
                        **t,
                        "subject_alt_name": tuple(t["subject_alt_name"]),
                        "key_usage": tuple(t["key_usage"]),
                    }
                )
            if "file" in item:
                entry.cert = x509.load_pem_x509_certificate((self.directory / item["file"]).read_bytes())
            if "key" in item:
                entry.key = formats.load((self.directory / item["key"]).read_bytes()).keys[0]
            self._entries[entry.name] = entry
        self._crls = [x509.load_pem_x509_crl((self.directory / f).read_bytes()) for f in index["crls"]]
        self.crl_use = bool(index.get("crl-use", False))


def _write(path: Path, data: bytes) -> None:
    """Write atomically, readable by the daemon's user only (private keys live in these files)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _window(chain: ValidatedChain, crl_use: bool) -> tuple[dt.datetime, dt.datetime]:
    """When a validation result holds: while every certificate of the chain is valid and, under
    crl-use, every CRL that judged it is current."""
    start = max(c.not_valid_before_utc for c in chain.certificates)
    ends = [c.not_valid_after_utc for c in chain.certificates]
    if crl_use:
        ends += [c.next_update_utc for c in chain.crls_checked if c.next_update_utc is not None]
    return start, min(ends)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def spki_sha1(cert: x509.Certificate) -> bytes:
    """SHA-1 of the DER SubjectPublicKeyInfo: how CERTREQ names a CA (RFC 7296 §3.7)."""
    digest = hashes.Hash(hashes.SHA1())
    digest.update(
        cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return digest.finalize()


def _when(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")
