"""The cutting-tree classifier itself: against a linear first-match scan with trees forced deep
(tiny leaves, narrow addresses), window arithmetic, and the shapes the module docstring promises."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from ipsecd.policy.classifier import WIDE_SPREAD, Classifier, Indexed, _span

BITS = 8  # narrow addresses: prefixes nest and overlap constantly, trees go deep
KEY_MASKS = [0, 0xFF << 32, 0xFFFF, (0xFF << 32) | 0xFFFF, (0xFF << 32) | (0xFFFF << 16) | 0xFFFF]
KEYS = [(6 << 32) | 80, (17 << 32) | (53 << 16) | 53, (6 << 32) | (1000 << 16) | 443, 1 << 32]

Rule = tuple[str, int, int, int, int, int, int]  # id, src net, src len, dst net, dst len, mask, key


@st.composite
def prefix(draw: st.DrawFn) -> tuple[int, int]:
    length = draw(st.integers(0, BITS))
    return draw(st.integers(0, (1 << BITS) - 1)) >> (BITS - length) << (BITS - length), length


@st.composite
def rule(draw: st.DrawFn, n: int) -> Rule:
    (sn, sl), (dn, dl) = draw(prefix()), draw(prefix())
    return f"r{n}", sn, sl, dn, dl, draw(st.sampled_from(KEY_MASKS)), draw(st.sampled_from(KEYS))


def matches(r: Rule, src: int, dst: int, key: int) -> bool:
    _, sn, sl, dn, dl, mask, k = r
    return (src >> (BITS - sl) == sn >> (BITS - sl)) and (dst >> (BITS - dl) == dn >> (BITS - dl)) \
        and key & mask == k & mask


def linear(rules: dict[str, tuple[int, Rule]], src: int, dst: int, key: int) -> str | None:
    for _, r in sorted(rules.values()):
        if matches(r, src, dst, key):
            return r[0]
    return None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 60), min_size=1, max_size=80),
    st.data(),
    st.sampled_from([(1, 64, 4096), (2, 1, -1000), (4, 4, -1000), (4, 64, 4096)]),
)
def test_tree_equals_linear_first_match(
    ops: list[int], data: st.DataObject, shape: tuple[int, int, int]
) -> None:
    """Adds, removals and re-adds (a move is remove + add at a new priority) with lookups between;
    trees forced deep (tiny leaves) and wide rules forced into the side tree (tiny spread limits)."""
    leaf_max, wide_spread, spare = shape
    c: Classifier[str] = Classifier(BITS, leaf_max=leaf_max, wide_spread=wide_spread, spare=spare)
    live: dict[str, tuple[int, Rule]] = {}
    for step, op in enumerate(ops):
        if op < 40 or not live:
            r = data.draw(rule(op))
            if r[0] in live:
                c.remove(r[0])
            pri = data.draw(st.integers(0, 30)) * 1000 + step  # unique, as the SPD's are
            c.add(r[0], pri, (r[1], r[2]), (r[3], r[4]), r[5], r[6], r[0])
            live[r[0]] = (pri, r)
        else:
            victim = sorted(live)[op % len(live)]
            c.remove(victim)
            del live[victim]
        if op % 4 == 0:
            pkts = data.draw(
                st.lists(
                    st.tuples(st.integers(0, 255), st.integers(0, 255), st.sampled_from(KEYS)),
                    min_size=1,
                    max_size=10,
                )
            )
            pkts += [(r[1] | (step % (1 << (BITS - r[2]))), r[3], r[6]) for _, r in live.values()]
            for src, dst, key in pkts:
                assert c.lookup(src, dst, key) == linear(live, src, dst, key)
    for src in range(0, 256, 7):
        for dst in range(0, 256, 5):
            for key in KEYS:
                assert c.lookup(src, dst, key) == linear(live, src, dst, key)


def test_span_is_the_set_of_window_values() -> None:
    """Brute force over every 6-bit prefix and window."""
    bits = 6
    for length in range(bits + 1):
        for net in range(0, 1 << bits, 1 << (bits - length)):
            addrs = range(net, net + (1 << (bits - length)))
            for width in range(bits + 1):
                for shift in range(bits - width + 1):
                    want = sorted({(a >> shift) & ((1 << width) - 1) for a in addrs})
                    assert list(_span(net, length, shift, width, bits)) == want


def _walk(node: object, depth: int = 0) -> tuple[int, int, int]:
    """(interior nodes, indexed leaves, deepest level) of a tree."""
    if type(node) is list:
        subs = [_walk(n, depth + 1) for n in {id(n): n for n in node[:-1]}.values()]
        return 1 + sum(s[0] for s in subs), sum(s[1] for s in subs), max(s[2] for s in subs)
    return 0, int(isinstance(node, Indexed)), depth


def test_large_random_set_is_cut_shallow_and_exact() -> None:
    rnd = random.Random(3)
    c: Classifier[int] = Classifier(32)
    rules = []
    for i in range(3000):
        sl, dl = rnd.choice([0, 8, 16, 24, 32]), rnd.choice([8, 16, 24, 32])
        sn, dn = rnd.getrandbits(sl) << (32 - sl), rnd.getrandbits(dl) << (32 - dl)
        mask, key = rnd.choice([(0, 0), (0xFFFF, 80), (0xFFFF, 443), ((0xFF << 32) | 0xFFFF, (6 << 32) | 80)])
        c.add(str(i), rnd.randrange(1 << 20) << 12 | i, (sn, sl), (dn, dl), mask, key, i)
        rules.append((c.rules[str(i)][0], sn, sl, dn, dl, mask, key, i))
    rules.sort()
    c.lookup(0, 0, 0)
    nodes, _, depth = _walk(c.root)
    assert nodes >= 1 and depth <= 4
    header = c.root[-1]
    assert header[1] and header[4]  # both addresses cut at the root

    def linear32(src: int, dst: int, key: int) -> int | None:
        for _, sn, sl, dn, dl, mask, k, i in rules:
            if (
                src >> (32 - sl) == sn >> (32 - sl)
                and dst >> (32 - dl) == dn >> (32 - dl)
                and key & mask == k
            ):
                return i
        return None

    for _ in range(300):  # half aimed inside a rule's prefixes, half random
        _, sn, sl, dn, dl, mask, k, _ = rnd.choice(rules)
        for src, dst, key in (
            (sn | rnd.getrandbits(32 - sl), dn | rnd.getrandbits(32 - dl), rnd.choice([k, 80])),
            (rnd.getrandbits(32), rnd.getrandbits(32), (6 << 32) | 80),
        ):
            assert c.lookup(src, dst, key) == linear32(src, dst, key)


def test_common_prefix_is_skipped_not_walked() -> None:
    """IPv6 rules all under 2001:db8::/32: the root's windows start below the shared 32 bits."""
    rnd = random.Random(4)
    c: Classifier[int] = Classifier(128)
    top = 0x20010DB8 << 96
    for i in range(300):
        c.add(
            str(i),
            i,
            (top | rnd.getrandbits(96) >> 32 << 32, 96),
            (top | rnd.getrandbits(96) >> 32 << 32, 96),
            0,
            0,
            i,
        )
    c.lookup(0, 0, 0)
    sshift, smask, _, dshift, dmask = c.root[-1]
    assert sshift + smask.bit_length() <= 96 and dshift + dmask.bit_length() <= 96 and smask and dmask
    assert _walk(c.root)[2] <= 2


def test_crowded_prefix_pair_becomes_an_indexed_leaf() -> None:
    """Rules no address cut separates (one prefix pair, many ports) are looked up by masked value."""
    c: Classifier[str] = Classifier(32)
    net = (0x0A000000, 8)
    for port in range(1, 40):
        c.add(f"d{port}", port, net, net, 0xFFFF, port, f"d{port}")
    c.add("any", 100, net, net, 0, 0, "any")
    c.add("early", 0, net, net, (0xFF << 32) | 0xFFFF, (17 << 32) | 7, "early")
    assert c.lookup(0x0A010203, 0x0A000001, (6 << 32) | 7) == "d7"
    assert c.lookup(0x0A010203, 0x0A000001, (17 << 32) | 7) == "early"
    assert c.lookup(0x0A010203, 0x0A000001, (17 << 32) | 99) == "any"
    assert c.lookup(0x0B010203, 0x0A000001, 7) is None
    assert isinstance(c.root, Indexed)
    c.remove("early")
    assert c.lookup(0x0A010203, 0x0A000001, (17 << 32) | 7) == "d7"


def test_wide_rules_get_their_own_tree() -> None:
    """Many rules with short prefixes among specific ones: split off instead of copied into every
    leaf, and the first match still crosses both trees in priority order."""
    rnd = random.Random(6)
    c: Classifier[str] = Classifier(32)
    for i in range(3000):
        sn, dn = rnd.getrandbits(8) << 24, rnd.getrandbits(24) << 8
        c.add(f"n{i}", 1000 + i, (sn, 8), (dn, 24), 0, 0, f"n{i}")
    for j in range(40):
        c.add(f"w{j}", j, (j % 4 << 30, 2), (0, 0), 0xFFFF, 1000 + j, f"w{j}")
    c.add("all", 10**9, (0, 0), (0, 0), 0, 0, "all")
    assert c.lookup(1, 2, 3) == "all"
    assert c.side is not None
    narrow = c.rules["n0"]
    src, dst = narrow[4] | 5, narrow[6] | 9
    j = src >> 30  # w{j} covers src and wins on its port; n0 wins on any other
    assert c.lookup(src, dst, 1000 + j) == f"w{j}"
    assert c.lookup(src, dst, 1000 + j + 1) == "n0"
    c.remove("n0")
    assert c.lookup(src, dst, 1000 + j) == f"w{j}"
    # patched in place, both trees: a wide rule leaves the side tree, another one joins it
    c.remove(f"w{j}")
    c.add("new", -1, (0, 0), (0, 0), 0xFFFF, 4242, "new")
    assert not c.dirty
    assert c.lookup(src, dst, 1000 + j) == "all"
    assert c.lookup(src, dst, 4242) == "new"
    assert c.lookup(rnd.getrandbits(32), rnd.getrandbits(32), 4242) == "new"


def test_changes_patch_the_tree_in_place() -> None:
    """One add or remove among many rules touches only the leaves it reaches (no rebuild); a bulk
    change (more than an eighth of the rules) falls back to one rebuild."""
    rnd = random.Random(7)
    c: Classifier[str] = Classifier(32)
    nets = [(rnd.getrandbits(16) << 16, 16) for _ in range(2000)]
    for i, net in enumerate(nets):
        c.add(f"r{i}", 10 * i, net, nets[-i], 0, 0, f"r{i}")
    c.lookup(0, 0, 0)
    root = c.root
    c.add("top", -5, nets[3], nets[-3], 0, 0, "top")  # before r3, same prefixes
    c.remove("r9")
    assert not c.dirty and c.root is root
    assert c.lookup(nets[3][0] | 1, nets[-3][0] | 2, 0) == "top"
    assert c.lookup(nets[9][0], nets[-9][0], 0) != "r9"
    for i in range(10, 400):
        c.remove(f"r{i}")
    assert c.dirty
    assert c.lookup(nets[500][0], nets[-500][0], 0) == "r500"
    assert c.lookup(nets[200][0], nets[-200][0], 0) not in {f"r{i}" for i in range(9, 400)}


def test_nested_prefixes_differing_in_ports() -> None:
    """Nested short prefixes that differ only in ports cannot be cut apart by addresses (cuts shrink,
    copies stop, indexed leaves take the rest): lookups still give the first match, with and without
    the side tree."""
    for wide_spread in (WIDE_SPREAD, 1 << 30):
        rnd = random.Random(8)
        c: Classifier[int] = Classifier(32, wide_spread=wide_spread)
        rules = []
        for i in range(3000):
            length = rnd.randrange(8, 33)
            net = 0x0A000000 | (rnd.getrandbits(24) >> (32 - length) << (32 - length) if length > 8 else 0)
            port = rnd.randrange(1, 200)
            c.add(str(i), i, (net, length), (0, 0), 0xFFFF, port, i)
            rules.append((net, length, port))
        c.lookup(0, 0, 0)
        assert (c.side is not None) == (wide_spread == WIDE_SPREAD)
        for i in range(0, 3000, 11):
            net, length, port = rules[i]
            src = net | rnd.getrandbits(32 - length)
            want = next(
                j for j, (n, ln, p) in enumerate(rules) if src >> (32 - ln) == n >> (32 - ln) and p == port
            )
            assert c.lookup(src, rnd.getrandbits(32), port) == want
