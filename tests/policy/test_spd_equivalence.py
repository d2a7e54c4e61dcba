"""The SPD classifier against a naive linear first-match reference (DESIGN.md §6.2)."""

from __future__ import annotations

import random
from ipaddress import IPv4Network, IPv6Network

from hypothesis import given, settings
from hypothesis import strategies as st

from ipsecd.policy.selectors import selector_matches
from ipsecd.policy.spd import Spd
from ipsecd.policy.types import Action, PolicySpec, Selector

# A small address space so prefixes overlap and nest a lot.
V4_BASES = [0x0A000000, 0x0A000100, 0x0A010000, 0xC0A80000, 0x00000000]
V6_BASES = [0x20010DB8 << 96, (0x20010DB8 << 96) | (1 << 64), 0xFE80 << 112, 0]
PORTS = [0, 22, 80, 443]
PROTOS = [0, 1, 6, 17]


@st.composite
def v4_net(draw: st.DrawFn) -> IPv4Network:
    base = draw(st.sampled_from(V4_BASES)) | draw(st.integers(0, 0x3FF))
    length = draw(st.sampled_from([0, 8, 16, 22, 24, 28, 30, 31, 32]))
    return IPv4Network((base >> (32 - length) << (32 - length) if length else 0, length))


@st.composite
def v6_net(draw: st.DrawFn) -> IPv6Network:
    base = draw(st.sampled_from(V6_BASES)) | draw(st.integers(0, 0x3FF))
    length = draw(st.sampled_from([0, 16, 32, 64, 120, 124, 127, 128]))
    return IPv6Network((base >> (128 - length) << (128 - length) if length else 0, length))


@st.composite
def policy(draw: st.DrawFn, n: int) -> PolicySpec:
    v6 = draw(st.booleans())
    net: st.SearchStrategy[IPv4Network | IPv6Network] = v6_net() if v6 else v4_net()
    sel = Selector(draw(net), draw(net), draw(st.sampled_from(PROTOS)),
                   draw(st.sampled_from(PORTS)), draw(st.sampled_from(PORTS)))
    return PolicySpec(f"p{n}", draw(st.integers(0, 20)), sel,
                      action=draw(st.sampled_from(list(Action))),
                      template=draw(st.integers(0, 9)) == 0, disabled=draw(st.integers(0, 9)) == 0)


@st.composite
def packet(draw: st.DrawFn) -> tuple[int, int, int, int, int, int]:
    version = draw(st.sampled_from([4, 6]))
    bases = V4_BASES if version == 4 else V6_BASES
    addr = st.builds(lambda b, low: b | low, st.sampled_from(bases), st.integers(0, 0x3FF))
    return (version, draw(addr), draw(addr), draw(st.sampled_from(PROTOS)),
            draw(st.sampled_from(PORTS)), draw(st.sampled_from(PORTS)))


def reference(
    policies: list[PolicySpec], pkt: tuple[int, int, int, int, int, int], inbound: bool
) -> str | None:
    """Naive first match: insertion order breaks ties of ``order``, as in the SPD."""
    version, src, dst, proto, sport, dport = pkt
    for p in sorted(policies, key=lambda p: p.order):  # sorted() is stable
        if p.template or p.disabled:
            continue
        sel = p.selector
        hit = (selector_matches(sel, version, dst, src, proto, dport, sport) if inbound
               else selector_matches(sel, version, src, dst, proto, sport, dport))
        if hit:
            return p.policy_id
    return None


def _ids(spd: Spd, pkt: tuple[int, int, int, int, int, int]) -> tuple[str | None, str | None]:
    out, inb = spd.lookup_raw(*pkt), spd.lookup_in_raw(*pkt)
    return (out.policy_id if out else None, inb.policy_id if inb else None)


@st.composite
def policy_list(draw: st.DrawFn) -> list[PolicySpec]:
    n = draw(st.integers(0, 40))
    return [draw(policy(i)) for i in range(n)]


@settings(max_examples=300, deadline=None)
@given(policy_list(), st.lists(packet(), min_size=1, max_size=30))
def test_classifier_equals_linear_first_match(policies: list[PolicySpec],
                                              packets: list[tuple[int, int, int, int, int, int]]) -> None:
    spd = Spd()
    for p in policies:
        spd.add(p)
    # packets aimed at the policies' own prefixes, besides the random ones
    aimed = [(p.selector.src.version, int(p.selector.src.network_address), int(p.selector.dst[-1]),
              p.selector.protocol, p.selector.src_port, p.selector.dst_port) for p in policies]
    for pkt in packets + aimed:
        assert _ids(spd, pkt) == (reference(policies, pkt, False), reference(policies, pkt, True))


@settings(max_examples=150, deadline=None)
@given(
    policy_list(), st.lists(st.integers(0, 1000), max_size=20), st.lists(packet(), min_size=1, max_size=20)
)
def test_classifier_follows_removals_and_moves(
    policies: list[PolicySpec], ops: list[int], packets: list[tuple[int, int, int, int, int, int]]
) -> None:
    """Incremental updates (remove, move) keep the classifier equal to the reference."""
    spd = Spd()
    for p in policies:
        spd.add(p)
    for op in ops:
        if not len(spd):
            break
        ids = [p.policy_id for p in spd.ordered()]
        victim = ids[op % len(ids)]
        if op % 3 == 0:
            spd.remove(victim)
        else:
            spd.move(victim, before=ids[(op // 3) % len(ids)] if op % 3 == 1 else None)
    current = spd.ordered()
    for pkt in packets:
        assert _ids(spd, pkt) == (reference(current, pkt, False), reference(current, pkt, True))


@st.composite
def crowded_list(draw: st.DrawFn) -> list[PolicySpec]:
    """Many policies on two prefix pairs differing by protocol/ports: exercises indexed buckets."""
    nets = [IPv4Network("10.0.0.0/24"), IPv4Network("10.0.0.0/16")]
    n = draw(st.integers(9, 40))
    return [
        PolicySpec(
            f"c{i}",
            draw(st.integers(0, 5)),
            Selector(
                draw(st.sampled_from(nets)),
                draw(st.sampled_from(nets)),
                draw(st.sampled_from(PROTOS)),
                draw(st.sampled_from(PORTS)),
                draw(st.sampled_from(PORTS)),
            ),
            disabled=draw(st.integers(0, 9)) == 0,
        )
        for i in range(n)
    ]


@settings(max_examples=100, deadline=None)
@given(
    crowded_list(),
    st.lists(
        st.tuples(
            st.sampled_from([0x0A000001, 0x0A000101]),
            st.sampled_from([0x0A000002, 0x0A000102]),
            st.sampled_from(PROTOS),
            st.sampled_from(PORTS),
            st.sampled_from(PORTS),
        ),
        min_size=1,
        max_size=30,
    ),
    st.integers(0, 39),
)
def test_crowded_buckets_equal_linear_first_match(
    policies: list[PolicySpec], packets: list[tuple[int, int, int, int, int]], victim: int
) -> None:
    spd = Spd()
    for p in policies:
        spd.add(p)
    for pkt in packets:
        full = (4, *pkt)
        assert _ids(spd, full) == (reference(policies, full, False), reference(policies, full, True))
    gone = policies[victim % len(policies)]
    spd.remove(gone.policy_id)  # shrinking an indexed bucket
    rest = [p for p in policies if p is not gone]
    for pkt in packets:
        full = (4, *pkt)
        assert _ids(spd, full) == (reference(rest, full, False), reference(rest, full, True))


def test_large_spd_equals_linear_first_match() -> None:
    """The SPD with a cutting tree in use (hundreds of policies: interior nodes) against the reference."""
    rnd = random.Random(5)
    policies = []
    for i in range(600):
        length_s, length_d = rnd.choice([8, 16, 24, 32]), rnd.choice([0, 8, 16, 24, 32])
        src = IPv4Network((rnd.getrandbits(32) >> (32 - length_s) << (32 - length_s), length_s))
        dst = IPv4Network(
            (rnd.getrandbits(32) >> (32 - length_d) << (32 - length_d) if length_d else 0, length_d)
        )
        sel = Selector(src, dst, rnd.choice(PROTOS), rnd.choice(PORTS), rnd.choice(PORTS))
        policies.append(PolicySpec(f"p{i}", rnd.randrange(50), sel))
    spd = Spd()
    for p in policies:
        spd.add(p)
    for i in range(400):
        if i % 2:
            sel = rnd.choice(policies).selector
            pkt = (4, int(sel.src.network_address) | rnd.getrandbits(32 - sel.src.prefixlen),
                   int(sel.dst.network_address) | rnd.getrandbits(32 - sel.dst.prefixlen),
                   sel.protocol, sel.src_port, sel.dst_port)
        else:
            pkt = (
                4,
                rnd.getrandbits(32),
                rnd.getrandbits(32),
                rnd.choice(PROTOS),
                rnd.choice(PORTS),
                rnd.choice(PORTS),
            )
        assert _ids(spd, pkt) == (reference(policies, pkt, False), reference(policies, pkt, True))
