"""SPD lookup cost vs number of policies (issue 4 speed target: 100k policies at most 2× the cost of 10).

Builds SPDs of 10, 1k, 10k and 100k mixed policies — IPv4 (80 %) and IPv6 prefixes of mixed lengths,
a third with a protocol, a third with a port, all three actions — and times ``Spd.lookup_raw`` (the
processor's fast path: parsed header fields as ints) on random *distinct* flows, half aimed inside a
random policy's selector and half random, so no flow cache could help (none is used). Sizes are
timed in interleaved rounds (best round, CPU time) so load from other processes hits them alike.
Prints ns/lookup per size, what a policy change costs at 100k (patched in place, and a full rebuild
of the classifiers as after a bulk change), a memory-latency anchor (one random read in a small vs a large
list, the cost any 100k-policy structure pays per cold access), and, last, the 100k/10 ratio of the same run.

    .venv/bin/python bench/policy_spd.py [--flows N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import time
from ipaddress import IPv4Network, IPv6Network

from ipsecd.policy.spd import Spd
from ipsecd.policy.types import Action, PolicySpec, Selector

Flow = tuple[int, int, int, int, int, int]
V4_LENGTHS = (8, 12, 16, 20, 24, 24, 28, 32, 32)
V6_LENGTHS = (32, 48, 56, 64, 64, 96, 128)
PROTOS = (6, 17, 1, 50)
PORTS = (22, 53, 80, 443, 500, 1701, 3389, 8080)


def _net(rng: random.Random, version: int) -> IPv4Network | IPv6Network:
    if version == 4:
        length = rng.choice(V4_LENGTHS)
        return IPv4Network((rng.getrandbits(32) >> (32 - length) << (32 - length), length))
    length = rng.choice(V6_LENGTHS)
    return IPv6Network(((0x2001 << 112 | rng.getrandbits(112)) >> (128 - length) << (128 - length), length))


def make_policies(n: int, rng: random.Random) -> list[PolicySpec]:
    out = []
    for i in range(n):
        version = 6 if rng.random() < 0.2 else 4
        proto = rng.choice(PROTOS) if rng.random() < 0.33 else 0
        ported = proto in (6, 17) or (proto == 0 and rng.random() < 0.2)
        sport = rng.choice(PORTS) if ported and rng.random() < 0.3 else 0
        dport = rng.choice(PORTS) if ported and rng.random() < 0.7 else 0
        sel = Selector(_net(rng, version), _net(rng, version), proto, sport, dport)
        action = rng.choice((Action.ENCRYPT, Action.ENCRYPT, Action.DISCARD, Action.NONE))
        out.append(PolicySpec(f"p{i}", i, sel, action=action))
    return out


def _inside(rng: random.Random, net: IPv4Network | IPv6Network) -> int:
    host_bits = net.max_prefixlen - net.prefixlen
    return int(net.network_address) | rng.getrandbits(host_bits) if host_bits else int(net.network_address)


def make_flows(policies: list[PolicySpec], count: int, rng: random.Random) -> list[Flow]:
    flows: set[Flow] = set()
    while len(flows) < count:
        if rng.random() < 0.5:
            sel = rng.choice(policies).selector
            flows.add(
                (
                    sel.src.version,
                    _inside(rng, sel.src),
                    _inside(rng, sel.dst),
                    sel.protocol or rng.choice(PROTOS),
                    sel.src_port or rng.randrange(1024, 65536),
                    sel.dst_port or rng.choice(PORTS),
                )
            )
        else:
            version = 6 if rng.random() < 0.2 else 4
            bits = 32 if version == 4 else 128
            flows.add((version, rng.getrandbits(bits), rng.getrandbits(bits), rng.choice(PROTOS),
                       rng.randrange(1024, 65536), rng.choice(PORTS)))
    out = list(flows)
    rng.shuffle(out)
    return out


def build(n: int, flows_n: int, seed: int) -> tuple[Spd, list[Flow], float, list[PolicySpec]]:
    rng = random.Random(seed + n)
    policies = make_policies(n, rng)
    t0 = time.perf_counter()
    spd = Spd()
    for p in policies:
        spd.add(p)
    spd.lookup_raw(4, 0, 0, 0, 0, 0)  # builds the classifier trees
    spd.lookup_raw(6, 0, 0, 0, 0, 0)
    built = time.perf_counter() - t0
    return spd, make_flows(policies, flows_n, rng), built, policies


def update_costs(spd: Spd, policies: list[PolicySpec], rng: random.Random) -> tuple[float, float]:
    """Seconds per policy change applied in place (remove + re-add of a random policy, then both
    lookups), and seconds to rebuild every classifier from scratch (what a bulk change costs)."""
    victims = rng.sample(policies, 200)
    spd.rebuild()  # the inbound classifiers too (the lookups above only built the outbound ones)
    t0 = time.perf_counter()
    for p in victims:
        spd.remove(p.policy_id)
        spd.add(p)
        for v in (4, 6):
            spd.lookup_raw(v, 0, 0, 0, 0, 0)
            spd.lookup_in_raw(v, 0, 0, 0, 0, 0)
    patched = (time.perf_counter() - t0) / len(victims)
    t0 = time.perf_counter()
    spd.rebuild()
    return patched, time.perf_counter() - t0


def memory_anchor(size: int, rng: random.Random, count: int = 200_000) -> float:
    """CPU seconds of one random read of a tuple in a list of ``size``: what a cache/TLB miss costs a
    Python program on this machine (the floor under any structure that holds 100k policies)."""
    table = [(i, i) for i in range(size)]
    idx = [rng.randrange(size) for _ in range(count)]
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        for i in idx:
            table[i][0]
        best = min(best, time.process_time() - t0)
    return best / count


def run(spd: Spd, flows: list[Flow]) -> tuple[float, int]:
    """CPU seconds per lookup over all flows, and how many matched."""
    lookup = spd.lookup_raw
    hits = 0
    t0 = time.process_time()
    for f in flows:
        if lookup(*f) is not None:
            hits += 1
    return (time.process_time() - t0) / len(flows), hits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flows", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    sizes = (10, 1_000, 10_000, 100_000)
    setups = {n: build(n, args.flows, args.seed) for n in sizes}
    best = dict.fromkeys(sizes, float("inf"))
    hits = dict.fromkeys(sizes, 0)
    # interleaved rounds, best of each: load from other processes hits every size alike
    for _ in range(args.rounds):
        for n in sizes:
            cost, hits[n] = run(*setups[n][:2])
            best[n] = min(best[n], cost)
    for n in sizes:
        print(
            f"{n:>7} policies: {best[n] * 1e9:7.0f} ns/lookup  ({hits[n] / args.flows:4.0%} of {args.flows} "
            f"distinct flows matched; built in {setups[n][2]:.2f} s)"
        )
    rng = random.Random(args.seed)
    patched, rebuilt = update_costs(setups[100_000][0], setups[100_000][3], rng)
    print(
        f"100k policies: one change patched in place {patched * 1e6:.0f} us; rebuilding all four classifiers "
        f"{rebuilt:.2f} s"
    )
    near, far = memory_anchor(10, rng), memory_anchor(1_000_000, rng)
    print(
        f"anchor: random read in a list of 10: {near * 1e9:.0f} ns, "
        f"of 1M: {far * 1e9:.0f} ns ({far / near:.1f}x)"
    )
    print(f"100k/10 lookup cost ratio: {best[100_000] / best[10]:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
