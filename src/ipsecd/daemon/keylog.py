"""Wireshark's key tables for the live SAs (issue 14): ``esp_sa`` and ``ikev2_decryption_table``.

Wireshark decrypts ESP and IKEv2 in a capture when its UAT files hold the SAs' keys (Preferences →
Protocols → ESP "ESP SAs", ISAKMP "IKEv2 Decryption Table"; the files ``esp_sa`` and
``ikev2_decryption_table`` of a Wireshark profile, or ``tshark -o uat:esp_sa:…``). These are those
files' lines, one per SA, in the field order and with the algorithm names of Wireshark 4.0's tables
(which later versions still read). They hold secrets: the console gives them only to
``wireshark-keys show-sensitive``, REST and the API only to users with the ``sensitive`` policy.

An algorithm Wireshark cannot decrypt (ChaCha20-Poly1305, Camellia, Twofish in 4.0) gets a ``#``
comment line naming the SA and why, so the table still loads and the operator sees what is missing.
"""

from __future__ import annotations

from collections.abc import Iterable

from ipsecd.crypto import registry
from ipsecd.crypto.keymat import IkeSaKeys
from ipsecd.ike.v2.proposals import IkeAlgs
from ipsecd.policy.types import IpsecProto, SaSpec

_ESP_CBC = {
    "aes": "AES-CBC [RFC3602]",
    "3des": "TripleDES-CBC [RFC2451]",
    "des": "DES-CBC [RFC2405]",
    "blowfish": "BLOWFISH-CBC [RFC2451]",
}
_ESP_INTEG = {
    "null": "NULL",
    "md5": "HMAC-MD5-96 [RFC2403]",
    "sha1": "HMAC-SHA-1-96 [RFC2404]",
    "sha256": "HMAC-SHA-256-128 [RFC4868]",
    "sha384": "HMAC-SHA-384-192 [RFC4868]",
    "sha512": "HMAC-SHA-512-256 [RFC4868]",
}
_IKE_INTEG = {
    "md5": "HMAC_MD5_96 [RFC2403]",
    "sha1": "HMAC_SHA1_96 [RFC2404]",
    "sha256": "HMAC_SHA2_256_128 [RFC4868]",
    "sha384": "HMAC_SHA2_384_192 [RFC4868]",
    "sha512": "HMAC_SHA2_512_256 [RFC4868]",
}


def _line(*fields: str) -> str:
    return ",".join(f'"{f}"' for f in fields) + "\n"


def _esp_encr(alg: registry.EncrAlg) -> str | None:
    if alg.mode == "null":
        return "NULL"
    if alg.mode == "gcm":
        return f"AES-GCM with {alg.icv_size} octet ICV [RFC4106]"
    if alg.mode == "ctr":
        return "AES-CTR [RFC3686]"
    return _ESP_CBC.get(alg.cipher) if alg.mode == "cbc" else None


def _ike_encr(alg: registry.EncrAlg) -> str | None:
    bits = alg.key_size * 8
    if alg.mode == "null":
        return "NULL [RFC2410]"
    if alg.mode == "gcm":
        return f"AES-GCM-{bits} with {alg.icv_size} octet ICV [RFC5282]"
    if alg.mode == "ctr":
        return f"AES-CTR-{bits} [RFC5930]"
    if alg.mode == "cbc" and alg.cipher == "aes":
        return f"AES-CBC-{bits} [RFC3602]"
    return "3DES [RFC2451]" if alg.mode == "cbc" and alg.cipher == "3des" else None


def esp_sa(specs: Iterable[SaSpec]) -> str:
    """The ``esp_sa`` table of these SAs (AH SAs have no table of their own: left out)."""
    out = []
    for spec in specs:
        if spec.proto is not IpsecProto.ESP:
            continue
        encr, integ = _esp_encr(registry.encr(spec.encr)), _ESP_INTEG.get(spec.integ)
        if encr is None or integ is None:
            out.append(f"# ESP SPI 0x{spec.spi:08x}: Wireshark cannot decrypt {spec.encr}/{spec.integ}\n")
            continue
        family = "IPv6" if spec.src.version == 6 else "IPv4"
        out.append(
            _line(
                family,
                spec.src.compressed,
                spec.dst.compressed,
                f"0x{spec.spi:08x}",
                encr,
                f"0x{spec.encr_key.hex()}",
                integ,
                f"0x{spec.integ_key.hex()}" if spec.integ_key else "",
            )
        )
    return "".join(out)


def ikev2_decryption_table(sas: Iterable[tuple[bytes, bytes, IkeAlgs, IkeSaKeys]]) -> str:
    """The ``ikev2_decryption_table`` of these IKE SAs: (SPIi, SPIr, algorithms, keys) each."""
    out = []
    for spi_i, spi_r, algs, keys in sas:
        encr = _ike_encr(algs.encr)
        integ = "NONE [RFC4306]" if algs.integ is None else _IKE_INTEG.get(algs.integ.name)
        if encr is None or integ is None:
            alg = f"{algs.encr.name}/{algs.integ.name if algs.integ else 'none'}"
            out.append(f"# IKE SA {spi_i.hex()}_i {spi_r.hex()}_r: Wireshark cannot decrypt {alg}\n")
            continue
        # the SPIs and keys are UAT byte fields: bare hex (a quoted one is read as text)
        out.append(
            f'{spi_i.hex()},{spi_r.hex()},{keys.sk_ei.hex()},{keys.sk_er.hex()},"{encr}",'
            f'{keys.sk_ai.hex()},{keys.sk_ar.hex()},"{integ}"\n'
        )
    return "".join(out)
