"""First-match packet classifier over (src prefix, dst prefix, protocol, src port, dst port).

The SPD (:mod:`ipsecd.policy.spd`) keeps one :class:`Classifier` per IP version and direction. Lookup
cost must not grow with the number of rules; this is how it avoids it:

1. **Addresses → prefix chains.** Prefixes form a laminar family (two are disjoint or nested), so the
   rule prefixes covering an address are the chain from the longest matching one up to the root, and
   that chain is the same for every address of an *elementary interval* between consecutive prefix
   boundaries. Each dimension keeps a first-level table indexed by the address bits just below the
   boundaries' common prefix (about 4 entries per boundary, at most 2¹⁸): a block inside one interval
   holds its chain, a block cut by boundaries holds those few intervals for a short bisect, as one
   flat list (starts, then chains) so the bisect and its answer are one object. Finding a chain
   costs one table read and one chain read however many rules there are (small rule sets skip the
   table and bisect their short list).
2. **Chains → rules.** A source chain holds the *rows* of its prefixes directly: per source prefix, a
   dict from destination-prefix id to the *bucket* of rules with exactly that prefix pair. A lookup
   probes each row with each destination id of the chain (``|src chain| × |dst chain|`` small-dict
   probes, bounded by how deeply the rules' prefixes nest, not by their number).
3. **Buckets.** Rules in a bucket are sorted by priority, flat in one tuple of (mask, key, priority,
   rule), and tested by masking the packet's packed ``protocol|sport|dport`` key with the rule's
   wildcard mask; a bucket with many rules (ports of one
   prefix pair) is instead indexed by exact key per wildcard pattern (≤ 8 probes) and skipped when its
   best priority cannot beat the match already found.

Rule changes update rows and buckets in place; the interval tables are rebuilt lazily (at the next
lookup) only when a prefix appears or disappears (about 1 s per 100k rules).

What remains is memory latency: at 100k rules each lookup makes about a dozen dependent reads that
miss the CPU caches (L1 table slot and chain per dimension, the row dicts of the source chain and the
destination ids hashed into them, the matching bucket), where 10 rules stay in cache and half of the
random flows stop at an empty chain (``bench/policy_spd.py`` prints what one such read costs on the
machine next to the lookup figures). Flat ``array`` tables instead of objects did not help here: with
the interpreter's extra work per array read they cost more than the misses they saved.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any, Generic, TypeVar

R = TypeVar("R")

#: Largest first-level table: 2**18 entries (2 MB of pointers) per dimension.
_L1_MAX_BITS = 18
#: Below this many boundaries the whole start list is small enough to bisect directly.
_L1_MIN = 256
#: Buckets with more rules than this get an exact-key index instead of a linear scan.
_SCAN_MAX = 8

Chain = tuple[Any, ...]
# first-level table: (base, shift, size, table, chain below base, chain above the table's span)
Dim = tuple[int, int, int, list[Any], Chain, Chain]


def prefix_key(net: int, length: int) -> int:
    """One int naming a prefix (network and length); sorting keys puts enclosing prefixes first."""
    return (net << 8) | length


def intervals(keys: list[int], bits: int) -> tuple[list[int], list[Chain]]:
    """Elementary intervals of a laminar prefix set: sorted starts and, per interval, the covering
    chain (innermost prefix first). Sorting by (network, length) visits an enclosing prefix before the
    ones inside it, so a stack of open prefixes gives each prefix its chain."""
    starts = [0]
    chains: list[Chain] = [()]

    def emit(point: int, chain: Chain) -> None:
        if starts[-1] == point:
            chains[-1] = chain
        else:
            starts.append(point)
            chains.append(chain)

    stack: list[tuple[int, Chain]] = []  # (last address, chain)
    for key in sorted(keys):
        lo, length = key >> 8, key & 0xFF
        hi = lo | ((1 << (bits - length)) - 1)
        while stack and stack[-1][0] < lo:
            end = stack.pop()[0]
            emit(end + 1, stack[-1][1] if stack else ())
        chain = (key, *(stack[-1][1] if stack else ()))
        emit(lo, chain)
        stack.append((hi, chain))
    while stack:
        end = stack.pop()[0]
        emit(end + 1, stack[-1][1] if stack else ())
    return starts, chains


Split = list[Any]  # a block cut by boundaries: [start₁ … startₖ, chain₀ … chainₖ] (see split)


def split(starts: list[int], chains: list[Chain]) -> Split:
    """The intervals from ``starts[0]`` on as one flat list (the first start is implied: the block
    begins inside its interval), so one object holds both the bisect and its answer: the chain of
    ``x`` is ``e[k + bisect_right(e, x, 0, k)]`` with ``k = len(e) >> 1``."""
    return [*starts[1:], *chains]


def make_dim(starts: list[int], chains: list[Chain], bits: int) -> Dim:
    """The first-level table over the elementary intervals (module docstring, step 1).

    Blocks of ``2**shift`` addresses from ``base`` (below it the first interval's chain, above the
    table's span the last one's). A block inside one interval holds that interval's chain itself; a
    block cut by boundaries holds ``[starts, chains]`` of just those intervals for a short bisect.
    """
    top = 1 << bits
    interior = [x for x in starts if 0 < x < top]
    if len(starts) < _L1_MIN or not interior:
        return 0, bits, 1, [split(starts, chains)], chains[0], chains[-1]
    lo, hi = interior[0], interior[-1]
    common = bits - (lo ^ hi).bit_length()
    size_bits = min(max(len(starts).bit_length() + 2, 8), _L1_MAX_BITS, bits - common)
    shift = bits - common - size_bits
    base = (lo >> (bits - common)) << (bits - common) if common else 0
    last = bisect_right(starts, top - 1) - 1
    table: list[Chain | Split] = []
    i, n = 0, len(starts)
    for b in range(1 << size_bits):
        first, end = base + (b << shift), base + ((b + 1) << shift)
        while i + 1 < n and starts[i + 1] <= first:
            i += 1
        j = i
        while j + 1 < n and starts[j + 1] < end:
            j += 1
        table.append(chains[i] if i == j else split(starts[i:j + 1], chains[i:j + 1]))
    return base, shift, 1 << size_bits, table, chains[0], chains[last]


def find(dim: Dim, x: int) -> Chain:
    """The chain of the interval holding ``x`` (reference form of the lookup's inlined step 1)."""
    base, shift, limit, table, low, high = dim
    b = (x - base) >> shift
    if b < 0:
        return low
    if b >= limit:
        return high
    e = table[b]
    if type(e) is tuple:
        return e
    k = len(e) >> 1
    return e[k + bisect_right(e, x, 0, k)]  # type: ignore[no-any-return]


Entry = tuple[int, int, int, R]  # (priority, mask, key, rule)


class Indexed(Generic[R]):
    """A bucket with many rules (one prefix pair, many ports): rules by exact key per wildcard mask."""

    __slots__ = ("masks", "min_pri", "table")

    def __init__(self, entries: list[tuple[int, int, int, R]]) -> None:
        table: dict[int, tuple[int, R]] = {}
        masks: dict[int, None] = {}
        for pri, mask, key, rule in entries:  # sorted: the first rule per key is the best
            table.setdefault(key, (pri, rule))
            masks.setdefault(mask)
        self.table = table
        self.masks = tuple(masks)
        self.min_pri = entries[0][0]


class Classifier(Generic[R]):
    """First-match classifier for one address width; rules are identified by a string id and carry a
    priority (lower wins) and a wildcard mask/key over the packed protocol/port key.

    ``rows[src prefix][dst id]`` is the hot form of a bucket: the tuple of its entries sorted by
    priority, or an :class:`Indexed` table when it has more than a few; ``rules`` keeps each bucket's
    entries by rule id for updates.
    """

    __slots__ = ("_ints", "_next_id", "bits", "d_ids", "d_refs", "ddim", "dirty", "rows", "rules", "s_refs", "sdim")

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.rows: dict[int, dict[int, tuple[Any, ...] | Indexed[R]]] = {}
        self.rules: dict[tuple[int, int], dict[str, tuple[int, int, int, R]]] = {}
        self.s_refs: dict[int, int] = {}
        self.d_refs: dict[int, int] = {}
        self.d_ids: dict[int, int] = {}  # dst prefix key -> small id
        self._next_id = 0
        self._ints: dict[int, int] = {}
        self.sdim: Dim = make_dim([0], [()], bits)
        self.ddim: Dim = make_dim([0], [()], bits)
        self.dirty = False

    def _refresh(self, src_key: int, d: int) -> None:
        rules = self.rules.get((src_key, d))
        row = self.rows[src_key]
        if not rules:
            self.rules.pop((src_key, d), None)
            row.pop(d, None)
            return
        entries = sorted(rules.values(), key=lambda e: e[0])
        row[d] = tuple(x for pri, mask, key, rule in entries for x in (mask, key, pri, rule)) \
            if len(entries) <= _SCAN_MAX else Indexed(entries)

    def add(self, rule_id: str, src_key: int, dst_key: int, pri: int, mask: int, key: int, rule: R) -> None:
        n = self.d_refs.get(dst_key, 0)
        self.d_refs[dst_key] = n + 1
        if n == 0:
            self.d_ids[dst_key] = self._next_id
            self._next_id += 1
            self.dirty = True
        n = self.s_refs.get(src_key, 0)
        self.s_refs[src_key] = n + 1
        if n == 0:
            self.rows[src_key] = {}
            self.dirty = True
        d = self.d_ids[dst_key]
        # shared int objects for equal masks/keys: the few distinct values stay in cache
        mask, key = self._ints.setdefault(mask, mask), self._ints.setdefault(key, key)
        self.rules.setdefault((src_key, d), {})[rule_id] = (pri, mask, key, rule)
        self._refresh(src_key, d)

    def remove(self, rule_id: str, src_key: int, dst_key: int) -> None:
        d = self.d_ids[dst_key]
        del self.rules[src_key, d][rule_id]
        self._refresh(src_key, d)
        self.s_refs[src_key] -= 1
        if not self.s_refs[src_key]:
            del self.s_refs[src_key], self.rows[src_key]
            self.dirty = True
        self.d_refs[dst_key] -= 1
        if not self.d_refs[dst_key]:
            del self.d_refs[dst_key], self.d_ids[dst_key]
            self.dirty = True

    def build(self) -> None:
        starts, chains = intervals(list(self.s_refs), self.bits)
        rows = self.rows
        self.sdim = make_dim(starts, [tuple(rows[k] for k in c) for c in chains], self.bits)
        starts, chains = intervals(list(self.d_refs), self.bits)
        ids = self.d_ids
        self.ddim = make_dim(starts, [tuple(ids[k] for k in c) for c in chains], self.bits)
        self.dirty = False

    def lookup(self, src: int, dst: int, key: int) -> R | None:
        """The best-priority rule matching the packet, or None. Step 1 is inlined for speed; it is
        :func:`find` twice."""
        if self.dirty:
            self.build()
        base, shift, limit, table, low, high = self.sdim
        b = (src - base) >> shift
        if b < 0:
            schain = low
        elif b >= limit:
            schain = high
        else:
            schain = table[b]
            if type(schain) is not tuple:
                k = len(schain) >> 1
                schain = schain[k + bisect_right(schain, src, 0, k)]
        if not schain:
            return None
        base, shift, limit, table, low, high = self.ddim
        b = (dst - base) >> shift
        if b < 0:
            dchain = low
        elif b >= limit:
            dchain = high
        else:
            dchain = table[b]
            if type(dchain) is not tuple:
                k = len(dchain) >> 1
                dchain = dchain[k + bisect_right(dchain, dst, 0, k)]
        if not dchain:
            return None
        best: R | None = None
        best_pri: Any = None
        for row in schain:
            for d in dchain:
                bucket = row.get(d)
                if bucket is None:
                    continue
                if type(bucket) is tuple:
                    # flat (mask, key, priority, rule) entries sorted by priority: the first that
                    # matches is the bucket's best; priorities are compared (their objects read)
                    # only when a second bucket matches too
                    i, n = 0, len(bucket)
                    while i < n and key & bucket[i] != bucket[i + 1]:
                        i += 4
                    if i < n and (best is None or bucket[i + 2] < best_pri):
                        best_pri, best = bucket[i + 2], bucket[i + 3]
                elif best is None or bucket.min_pri < best_pri:
                    table = bucket.table
                    for m in bucket.masks:
                        e = table.get(key & m)
                        if e is not None and (best is None or e[0] < best_pri):
                            best_pri, best = e
        return best
