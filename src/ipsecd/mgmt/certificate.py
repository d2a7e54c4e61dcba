"""The ``/certificate`` menu (RouterOS System/Certificates) over :class:`~ipsecd.pki.store.CertificateStore`.

Certificates are not configuration: they live in the store's directory (private keys 0600), never
in the SQLite configuration, and ``export`` does not contain them, as on RouterOS; they move with
``export-certificate`` and ``import``. So this menu is not one of the schema's item menus: its calls
(:class:`~.commands.Call`) are answered here, with the same :class:`~.commands.Outcome` the command
layer gives, and its two :class:`~.schema.Menu` objects (:data:`CERTIFICATE`, :data:`CRL`) exist for
the renderers (columns, flag legend, value types of ``add``).

Verbs, as the manual and issue 12 describe them:

* ``print [detail]`` — name, common-name, subject-alt-name, key-type, key-size, key-usage,
  days-valid, trusted, issuer, serial-number, fingerprint, invalid-before/after, ca; flags
  K private-key, A authority, I issued, R revoked, E expired, T trusted; never a private key;
* ``add name=… common-name=… [subject-alt-name=…] [key-type=…] [key-size=…] [key-usage=…]
  [days-valid=…] [country= state= locality= organization= unit=]`` then ``sign <name> [ca=…]``,
  which answers with the warnings a Windows client's needs raise for a server certificate;
* ``import file-name=… [passphrase=…] [name=…] [trusted=…]`` (PEM, DER, PKCS#12: certificates,
  chains, keys, CRLs), answering with RouterOS's counters; ``name=`` of an existing certificate with
  one new certificate renews it in place (what names it, an API service too, serves the new one);
* ``export-certificate <name> [type=pem|pkcs12] [export-passphrase=…] [file-name=…]``, files written
  0600 in the current directory (the key only with a passphrase);
* ``set <name> trusted=yes|no``; ``remove <name>`` — refused while an identity's ``certificate`` or
  ``remote-certificate`` or an ``/ip service``'s ``certificate`` names it;
* ``/certificate crl print``; ``/certificate settings set crl-use=yes|no`` (every issuer of a peer's
  chain must then have a current CRL in the store) and ``print``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ipsecd.pki import issue
from ipsecd.pki.store import CertificateStore, StoreError

from .commands import EXTERNAL_MENUS, Arg, Call, Commands, Outcome
from .errors import ConfigError, InvalidValue, NoSuchItem, ScriptSyntaxError, UnknownProperty
from .schema import Menu, Prop
from .txn import Txn
from .values import Bool, Enum, EnumList, Int, Str, ValueParseError
from .views import PrintRow

KEY_USAGES = (*issue.KU_BITS, *issue.EKU_NAMES)
_RO = ("issuer", "serial-number", "fingerprint", "invalid-before", "invalid-after", "ca")
CERTIFICATE = Menu(
    "/certificate",
    "list",
    (
        Prop("name", Str(1, 255)),
        Prop("common-name", Str(0, 255)),
        Prop("subject-alt-name", Str(0, 1024)),
        Prop("key-type", Enum(*issue.KEY_TYPES), "rsa"),
        Prop("key-size", Enum("2048", "4096", *issue.EC_CURVES), "2048"),
        Prop("key-usage", EnumList(*KEY_USAGES), None),
        Prop("days-valid", Int(1, 36500), "365"),
        Prop("country", Str(0, 2)),
        Prop("state", Str(0, 128)),
        Prop("locality", Str(0, 128)),
        Prop("organization", Str(0, 128)),
        Prop("unit", Str(0, 128)),
        Prop("trusted", Bool(), "no"),
        *(Prop(n, Str(), None, read_only=True) for n in _RO),
    ),
    columns=("name", "common-name", "subject-alt-name", "key-size", "days-valid", "trusted"),
    commands=("import", "sign", "export-certificate"),
    flags=(
        ("K", "private-key"),
        ("A", "authority"),
        ("I", "issued"),
        ("R", "revoked"),
        ("E", "expired"),
        ("T", "trusted"),
    ),
    verbs=("add", "set", "remove", "print", "import", "sign", "export-certificate"),
)
CRL = Menu(
    "/certificate crl",
    "runtime",
    tuple(
        Prop(n, Str(), None, read_only=True)
        for n in ("issuer", "this-update", "next-update", "revoked", "fingerprint")
    ),
    key=None,
    columns=("issuer", "this-update", "next-update", "revoked"),
    verbs=("print",),
)
SETTINGS = Menu(
    "/certificate settings",
    "single",
    (Prop("crl-use", Bool(), "no"),),
    key=None,
    verbs=("print", "set"),
)
_TEMPLATE_ARGS = {
    "common-name",
    "subject-alt-name",
    "key-type",
    "key-size",
    "key-usage",
    "days-valid",
    "country",
    "state",
    "locality",
    "organization",
    "unit",
    "trusted",
}
_ARGS = {
    "add": {"name", *_TEMPLATE_ARGS},
    "sign": {"ca", "name"},
    "import": {"file-name", "passphrase", "name", "trusted"},
    "export-certificate": {"type", "export-passphrase", "file-name"},
    "set": {"trusted"},
    "remove": set(),
    "print": {"proplist"},
}

#: What refers to certificate ``name``: identities (``identity *id (peer=…)``) by certificate or
#: remote-certificate, API services (``/ip service www-ssl``) by certificate.
UsedBy = Callable[[str], list[str]]


class StoreRuntime:
    """The runtime of commands that run without the daemon's live state: a ``--config`` script before
    the daemon starts, and ``ipsecd exec``/``console``/``import`` while no daemon listens. The
    certificate store is there (opened at first use: most commands never touch it), so
    ``/certificate`` works on the files the daemon will load; live menus have no rows, and
    ``kill-connections``/``flush`` are refused."""

    def __init__(self, open_store: Callable[[], CertificateStore]) -> None:
        self._open = open_store
        self._store: CertificateStore | None = None

    @property
    def certificates(self) -> CertificateStore:
        if self._store is None:
            self._store = self._open()
        return self._store

    def rows(self, menu: str) -> list[dict[str, object]]:
        return []

    def command(self, menu: str, name: str, args: dict[str, str]) -> str:
        raise ConfigError(f"{menu} {name}: needs the running daemon (ipsecd run)")


def users_of(txn: Txn) -> UsedBy:
    """:data:`UsedBy` over a transaction's ``/ip ipsec identity`` and ``/ip service`` items (a
    service serving a removed certificate could not reopen its TLS listener: issue 14)."""

    def used_by(name: str) -> list[str]:
        identities = [
            f"identity {it.id} (peer={it.values.get('peer', '')})"
            for it in txn.items("/ip ipsec identity")
            if name in it.values.get("certificate", "").split(",")
            or it.values.get("remote-certificate") == name
        ]
        services = [
            f"/ip service {it.values.get('name', '')}"
            for it in txn.items("/ip service")
            if it.values.get("certificate") == name
        ]
        return identities + services

    return used_by


class CertificateMenu:
    """Answers ``/certificate`` and ``/certificate crl`` calls on one store (see the module docstring)."""

    def __init__(self, store: CertificateStore, used_by: UsedBy, directory: Path | None = None) -> None:
        self.store, self.used_by = store, used_by
        self.directory = directory or Path.cwd()

    def call(self, c: Call) -> Outcome:
        """One call; ConfigError (one line) when refused."""
        menu = {m.path: m for m in (CERTIFICATE, CRL, SETTINGS)}.get(c.menu)
        if menu is None or c.verb not in menu.verbs:
            raise ScriptSyntaxError(f"{c.menu}: no such command {c.verb}")
        if c.where is not None:
            raise ConfigError(f"{c.menu} {c.verb}: where is not supported here")
        args = {k: _text(v) for k, v in c.args.items()}
        unknown = set(args) - _ARGS.get(c.verb, set())
        if unknown and menu is not SETTINGS:
            raise UnknownProperty(f"{c.menu} {c.verb}: unknown argument {sorted(unknown)[0]}")
        try:
            if menu is SETTINGS:
                return self._settings(c, args)
            if menu is CRL:
                return Outcome(
                    rows=[
                        PrintRow(i, f"*{i + 1:X}", "", None, r) for i, r in enumerate(self.store.crl_rows())
                    ]
                )
            handler: Callable[[Call, dict[str, str]], Outcome] = getattr(self, "_" + c.verb.replace("-", "_"))
            return handler(c, args)
        except StoreError as exc:
            raise ConfigError(str(exc)) from None

    # -- verbs -------------------------------------------------------------------------------------

    def _settings(self, c: Call, args: dict[str, str]) -> Outcome:
        if c.verb == "set":
            unknown = set(args) - {"crl-use"}
            if unknown:
                raise UnknownProperty(f"/certificate settings: unknown argument {sorted(unknown)[0]}")
            if "crl-use" in args:
                self.store.set_crl_use(bool(_parse(SETTINGS, "crl-use", args["crl-use"])))
            return Outcome()
        return Outcome(values={"crl-use": "yes" if self.store.crl_use else "no"})

    def _print(self, c: Call, args: dict[str, str]) -> Outcome:
        rows = []
        for i, row in enumerate(self.store.rows()):
            values = {k: v for k, v in row.items() if k != "flags" and (v or k == "name")}
            rows.append(PrintRow(i, f"*{i + 1:X}", row["flags"], None, values))
        return Outcome(rows=rows)

    def _add(self, c: Call, args: dict[str, str]) -> Outcome:
        name = args.get("name", "")
        if not name:
            raise InvalidValue("/certificate add: name is required")
        common_name = args.get("common-name", "")
        if not common_name:
            raise InvalidValue("/certificate add: common-name is required")
        for k in args.keys() & _TEMPLATE_ARGS:
            _parse(CERTIFICATE, k, args[k])
        key_type = args.get("key-type", "rsa")
        size_text = args.get("key-size", "prime256v1" if key_type == "ec" else "2048")
        template = issue.Template(
            common_name=common_name,
            subject_alt_name=tuple(
                s.strip() for s in args.get("subject-alt-name", "").split(",") if s.strip()
            ),
            key_type=key_type,
            key_size=int(size_text) if size_text.isdigit() else size_text,
            key_usage=tuple(
                dict.fromkeys(u.strip() for u in args.get("key-usage", "").split(",") if u.strip())
            ),
            days_valid=int(str(_parse(CERTIFICATE, "days-valid", args.get("days-valid", "365")))),
            country=args.get("country", ""),
            state=args.get("state", ""),
            locality=args.get("locality", ""),
            organization=args.get("organization", ""),
            unit=args.get("unit", ""),
        )
        for san in template.subject_alt_name:
            try:
                issue.parse_san(san)
            except issue.IssueError as exc:
                raise InvalidValue(f"/certificate add: {exc}") from None
        self.store.add(name, template)
        return Outcome(ids=[name])

    def _sign(self, c: Call, args: dict[str, str]) -> Outcome:
        name = args.get("name") or self._one(c.items)
        warnings = self.store.sign(name, ca=args.get("ca", ""))
        return Outcome(text="".join(f"warning: {w}\n" for w in warnings))

    def _import(self, c: Call, args: dict[str, str]) -> Outcome:
        file_name = args.get("file-name", "")
        if not file_name:
            raise InvalidValue("/certificate import: file-name is required")
        trusted = Bool().parse(args["trusted"]) if "trusted" in args else None
        r = self.store.import_file(Path(file_name), args.get("passphrase", ""), args.get("name", ""), trusted)
        return Outcome(
            text=f"certificates-imported: {len(r.certificates)}\nprivate-keys-imported: {r.keys}\n"
            f"crls-imported: {r.crls}\nfiles-imported: 1\nduplicates-skipped: {r.skipped}\n"
        )

    def _export_certificate(self, c: Call, args: dict[str, str]) -> Outcome:
        name = self._one(c.items)
        kind = args.get("type", "pem")
        files = self.store.export(name, kind, args.get("export-passphrase", ""))
        base = args.get("file-name", "")
        for file_name, data in files.items():
            target = self.directory / (base + file_name[len(name) :] if base else file_name)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        return Outcome(text="")

    def _set(self, c: Call, args: dict[str, str]) -> Outcome:
        if "trusted" not in args:
            raise InvalidValue("/certificate set: only trusted can be changed")
        trusted = bool(_parse(CERTIFICATE, "trusted", args["trusted"]))
        for name in self._names(c.items):
            self.store.set_trusted(name, trusted)
        return Outcome()

    def _remove(self, c: Call, args: dict[str, str]) -> Outcome:
        for name in self._names(c.items):
            users = self.used_by(name)
            if users:
                raise ConfigError(f"/certificate remove: certificate {name!r} is used by {users[0]}: "
                                  "change that first")
            self.store.remove(name)
        return Outcome()

    # -- items ---------------------------------------------------------------------------------------

    def _names(self, items: tuple[Arg, ...]) -> list[str]:
        """Item selectors (names, print numbers ``0,2``, ``*id``) as store names."""
        names = self.store.names()
        out: list[str] = []
        for item in items:
            for part in _text(item).split(","):
                part = part.strip()
                if part in names:
                    out.append(part)
                elif part.isdigit() and int(part) < len(names):
                    out.append(names[int(part)])
                elif part.startswith("*") and _hex(part[1:]) in range(1, len(names) + 1):
                    out.append(names[_hex(part[1:]) - 1])
                else:
                    raise NoSuchItem(f"/certificate: no such item ({part})")
        if not out:
            raise NoSuchItem("/certificate: which certificate? (name or number)")
        return out

    def _one(self, items: tuple[Arg, ...]) -> str:
        names = self._names(items)
        if len(names) != 1:
            raise ConfigError("/certificate: give exactly one certificate")
        return names[0]


def _hex(text: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        return -1


def _text(value: Arg) -> str:
    if not isinstance(value, str):
        raise ConfigError("/certificate: [ find … ] is not supported here")
    return value


def _parse(menu: Menu, prop: str, text: str) -> object:
    p = menu.prop(prop)
    assert p is not None
    try:
        return p.type.parse(text)
    except ValueParseError as exc:
        raise InvalidValue(f"/certificate: {prop}={text}: expected {exc}") from None


def answer(commands: Commands, c: Call) -> Outcome:
    """A ``/certificate`` call of the command layer: the daemon's store (its runtime's
    ``certificates``) answers; ``remove`` is refused while an identity or service of the transaction
    uses it."""
    store = getattr(commands.runtime, "certificates", None)
    if store is None:
        raise ConfigError(f"{c.menu}: the certificate store is the running daemon's (ipsecd run)")
    return CertificateMenu(store, users_of(commands.txn)).call(c)


MENUS = {m.path: m for m in (CERTIFICATE, CRL, SETTINGS)}
EXTERNAL_MENUS.update(dict.fromkeys(MENUS, answer))
