"""``/ip ipsec key`` commands: ``generate-key``, ``import`` and ``export-pub-key`` for RSA keys.

Key material is kept as PEM in the item's read-only ``key-data`` value (a secret: never printed or
exported, as RouterOS never exports keys). Which keys authenticate which peer is the identity's
``key``/``remote-key``; raw RSA authentication itself (IKEv1) is not built yet.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .errors import ConfigError, InvalidValue, ScriptSyntaxError
from .schema import Menu
from .store import Item
from .txn import Txn

KEY_SIZES = ("1024", "2048", "4096", "8192")


def _need(menu: Menu, args: dict[str, str], name: str) -> str:
    if not args.get(name):
        raise ScriptSyntaxError(f"{menu.path}: {name}= is required")
    return args[name]


def _add(txn: Txn, menu: Menu, name: str, pem: str, size: int, private: bool) -> str:
    txn.add(menu, {"name": name}, internal={"key-data": pem, "key-size": str(size),
                                            "private-key": "yes" if private else "no", "rsa": "yes"})
    return ""


def generate(txn: Txn, menu: Menu, args: dict[str, str]) -> str:
    name = _need(menu, args, "name")
    size = args.get("key-size", "2048")
    if size not in KEY_SIZES:
        raise InvalidValue(
            f'{menu.path}: invalid value for key-size: "{size}" (allowed: {" | ".join(KEY_SIZES)})'
        )
    key = rsa.generate_private_key(public_exponent=65537, key_size=int(size))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return _add(txn, menu, name, pem, int(size), True)


def import_file(txn: Txn, menu: Menu, args: dict[str, str]) -> str:
    path = _need(menu, args, "file-name")
    name = args.get("name") or path.rsplit("/", 1)[-1]
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError as exc:
        raise ConfigError(f"{menu.path}: cannot read {path}: {exc.strerror}") from None
    passphrase = args.get("passphrase", "").encode() or None
    try:
        priv = serialization.load_pem_private_key(data, passphrase)
    except (ValueError, TypeError):
        priv = None
    if isinstance(priv, rsa.RSAPrivateKey):
        pem = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
        return _add(txn, menu, name, pem, priv.key_size, True)
    try:
        pub = serialization.load_pem_public_key(data)
    except ValueError:
        pub = None
    if not isinstance(pub, rsa.RSAPublicKey):
        raise ConfigError(f"{menu.path}: {path} holds no RSA key in PEM format (or the passphrase is wrong)")
    pem = pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return _add(txn, menu, name, pem, pub.key_size, False)


def export_public(txn: Txn, menu: Menu, args: dict[str, str], select: Callable[[str], list[Item]]) -> str:
    path = _need(menu, args, "file-name")
    items = select(_need(menu, args, "key"))
    pem = items[0].values.get("key-data", "").encode()
    key = (
        serialization.load_pem_private_key(pem, None)
        if b"PRIVATE" in pem
        else serialization.load_pem_public_key(pem)
    )
    pub = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    assert isinstance(pub, rsa.RSAPublicKey)
    try:
        with open(path, "wb") as f:
            f.write(
                pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            )
    except OSError as exc:
        raise ConfigError(f"{menu.path}: cannot write {path}: {exc.strerror}") from None
    return ""


def generate_psk(txn: Txn, menu: Menu, args: dict[str, str]) -> str:
    """``/ip ipsec key psk generate [count=N] [peer=P] [size=BYTES]``: random PPK ids and keys."""
    try:
        count, size = int(args.get("count", "1")), int(args.get("size", "64"))
    except ValueError:
        raise InvalidValue(f"{menu.path}: count and size are integers") from None
    if not 1 <= count <= 1000 or not 64 <= size <= 1024:
        raise InvalidValue(f"{menu.path}: invalid count/size (allowed: count 1..1000, size 64..1024 bytes)")
    for _ in range(count):
        changes = {"id": secrets.token_hex(16), "key": secrets.token_hex(size)}
        if args.get("peer"):
            changes["peer"] = args["peer"]
        txn.add(menu, changes)
    return ""
