"""Key-exchange speed per group: one side's key generation + agreement per second, through
``ipsecd.crypto.ke``, beside ``openssl speed`` for the groups OpenSSL's speed command has.

For MODP it also times finite-field DH through ``cryptography`` (deprecated from 50 on; the
implementation ipsecd does NOT use) so the cost of our pow()-with-short-exponents choice is visible.
Note the units: ``openssl speed ecdh*/ffdh*`` counts one derive (agreement) per op, without key
generation, so its figure is an upper bound for a keygen+agreement.

    .venv/bin/python bench/crypto_dh.py [--seconds 0.5] [--no-openssl]

Prints a table; the last line is the anchor figure: modp2048 (group 14) agreement against ``openssl
speed ffdh2048`` (derive only, the same unit) measured in the same run.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import time
import warnings

from ipsecd.crypto.ke import GROUPS, new_ke
from ipsecd.crypto.modp import MODP_GROUPS

NAMES = {
    1: "modp768", 2: "modp1024", 3: "ec2n155", 4: "ec2n185", 5: "modp1536", 14: "modp2048",
    15: "modp3072", 16: "modp4096", 17: "modp6144", 18: "modp8192", 19: "ecp256", 20: "ecp384",
    21: "ecp521", 31: "x25519", 32: "x448", 35: "mlkem512", 36: "mlkem768", 37: "mlkem1024",
}  # fmt: skip

# group -> (openssl speed algorithm, the label in its output)
OPENSSL = {
    14: ("ffdh2048", r"2048 bits ffdh"),
    15: ("ffdh3072", r"3072 bits ffdh"),
    16: ("ffdh4096", r"4096 bits ffdh"),
    17: ("ffdh6144", r"6144 bits ffdh"),
    18: ("ffdh8192", r"8192 bits ffdh"),
    19: ("ecdhp256", r"256 bits ecdh \(nistp256\)"),
    20: ("ecdhp384", r"384 bits ecdh \(nistp384\)"),
    21: ("ecdhp521", r"521 bits ecdh \(nistp521\)"),
    31: ("ecdhx25519", r"253 bits ecdh \(X25519\)"),
    32: ("ecdhx448", r"448 bits ecdh \(X448\)"),
}


def rate(fn: object, seconds: float) -> float:
    assert callable(fn)
    fn()  # warm-up (MODP computes its prime once)
    n = 0
    start = time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= 3:
            return n / elapsed


def ipsecd_op(group: int) -> object:
    peer = new_ke(group)
    peer_value = peer.public_value()
    if GROUPS[group].kind == "kem":

        def kem() -> None:  # initiator keygen, responder encapsulation, initiator decapsulation
            me = new_ke(group)
            ct, _ = new_ke(group).respond(me.public_value())
            me.compute_shared(ct)

        return kem

    def dh() -> None:
        me = new_ke(group)
        me.public_value()
        me.compute_shared(peer_value)

    return dh


def ipsecd_agree_op(group: int) -> object:
    """Agreement alone (decapsulation for a KEM), the unit ``openssl speed`` counts."""
    me = new_ke(group)
    value = me.public_value()
    if GROUPS[group].kind == "kem":
        ct, _ = new_ke(group).respond(value)
        return lambda: me.compute_shared(ct)
    peer_value = new_ke(group).public_value()
    return lambda: me.compute_shared(peer_value)


def cryptography_ffdh_op(group: int) -> object:
    from cryptography.hazmat.primitives.asymmetric import dh

    g = MODP_GROUPS[group]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = dh.DHParameterNumbers(g.prime, 2).parameters()
        peer = params.generate_private_key().public_key()

    def op() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params.generate_private_key().exchange(peer)

    return op


def openssl_speed(algs: list[str], seconds: int) -> dict[str, float]:
    if not shutil.which("openssl") or not algs:
        return {}
    out = subprocess.run(
        ["openssl", "speed", "-seconds", str(seconds), *algs], capture_output=True, text=True, timeout=600
    ).stdout
    found: dict[str, float] = {}
    for alg, label in OPENSSL.values():
        m = re.search(label + r"\s+[\d.]+s\s+([\d.]+)", out)
        if alg in algs and m:
            found[alg] = float(m.group(1))
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.5, help="time per group (default 0.5)")
    ap.add_argument("--no-openssl", action="store_true", help="skip the openssl speed run")
    args = ap.parse_args()

    ossl = {} if args.no_openssl else openssl_speed([a for a, _ in OPENSSL.values()], 1)
    header = (
        f"{'group':>5} {'name':<10} {'impl':<8} {'ipsecd kg+agree/s':>18} {'ipsecd agree/s':>15} "
        f"{'cryptography FFDH kg+agree/s':>29} {'openssl speed derive/s':>23}"
    )
    print(header)
    full: dict[int, float] = {}
    agree: dict[int, float] = {}
    for group, info in GROUPS.items():
        full[group] = rate(ipsecd_op(group), args.seconds)
        agree[group] = rate(ipsecd_agree_op(group), args.seconds)
        ffdh = (
            f"{rate(cryptography_ffdh_op(group), args.seconds):29.1f}" if group in MODP_GROUPS else " " * 29
        )
        alg = OPENSSL.get(group, ("", ""))[0]
        speed = f"{ossl[alg]:23.1f}" if alg in ossl else " " * 23
        row = (
            f"{group:5d} {NAMES[group]:<10} {info.implementation:<8} {full[group]:18.1f} {agree[group]:15.1f}"
        )
        print(f"{row} {ffdh} {speed}")
    anchor = ossl.get("ffdh2048")
    ratio = f", ratio {agree[14] / anchor:.2f}" if anchor else ""
    print(
        f"modp2048 (group 14): keygen+agreement {full[14]:.1f}/s, agreement {agree[14]:.1f}/s ipsecd vs "
        f"openssl speed ffdh2048 derive {anchor or float('nan'):.1f}/s{ratio}"
    )


if __name__ == "__main__":
    main()
