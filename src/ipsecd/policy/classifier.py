"""First-match packet classifier over (src prefix, dst prefix, protocol, src port, dst port).

The SPD (:mod:`ipsecd.policy.spd`) keeps one :class:`Classifier` per IP version and direction
(RFC 4301 §4.4.1: ordered SPD, first match decides). Lookup cost must not grow with the number of
rules, and at 100k rules what costs is not the interpreter's work but memory latency: every
dependent read of an object that fell out of the CPU caches. So the lookup is a fixed, short walk
whose reads do not depend on how many rules there are:

1. **A cutting tree over both addresses** (in the manner of HiCuts). An interior node is a list:
   ``[child₀ … childₖ, header]``; the header ``(src shift, src mask, dst bits, dst shift, dst mask)``
   names a window of bits of each address, and the child index is the two windows side by side.
   Windows start where the node's rules first differ (so a common prefix such as IPv6's
   ``2001:db8::/32`` is skipped, not walked bit by bit), and a node cuts up to 16 bits, so random
   rule sets of 100k policies sit a level or two deep. A rule goes into every child whose window
   values its prefixes allow: wide prefixes are replicated, children with the same rules are one
   shared object, and the few distinct headers are shared too (they stay in cache). Copies are
   bounded: a cut narrows until it copies a node's rules at most :data:`SPACE` times over, and a
   build stops cutting once it has made :data:`ROOM` copies per rule.
2. **Leaves decide with one packed integer.** The packet becomes ``P = src|dst|proto|sport|dport``
   (one int, bit fields side by side) and each rule a wildcard mask and value over the same layout,
   so testing a rule is ``P & mask == value``: one ``and`` and one compare whatever it constrains.
   A leaf is a flat tuple ``(mask, value, rule, priority)*`` in priority order, scanned until the first match
   (at most :data:`LEAF_MAX` rules unless no cut separates them); a crowded leaf that no cut can
   separate (many ports of one prefix pair) is an :class:`Indexed` table: per distinct mask, a dict
   from masked value to its best rule.
3. **Wide rules apart.** A rule with short prefixes lands in many children of every cut. A few such
   rules (a default ``0.0.0.0/0`` policy) are simply copied; when copies of the widest rules would
   outnumber the rules themselves, they go into a second, small tree (:attr:`Classifier.side`) and
   a lookup takes the better of the two trees' first matches.

The tree does not have to be tight: a leaf checks every field of every rule it holds, so reaching a
leaf only has to guarantee that every rule the packet could match is in it (in priority order).
That is what the equivalence tests check against a linear first-match scan.

**Updates** (add/remove; the SPD's move, set and enable/disable are remove + add) patch the built
trees in place: the rule goes into (or out of) just the leaves its prefixes reach, shared leaves
once. When that would overflow a leaf, or after more patches than an eighth of the rules (a bulk
change such as a reorder), the trees are marked stale and the next lookup rebuilds them (about
0.3 s per 80k rules; ``bench/policy_spd.py`` prints both costs). Changes and lookups come from one
thread (each data-plane worker process owns its SPD), so a patch never races a rebuild. Per lookup the walk
is one index computation and two reads per level (the child slot and the child), the leaf tuple, and one
masked compare per rule checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

R = TypeVar("R")

#: Bits of protocol and ports packed under the addresses (see ``flow_key`` in :mod:`spd`).
KEY_BITS = 40
#: A leaf with more rules than this is cut further (when a cut separates them).
LEAF_MAX = 4
#: Most bits one node cuts: 2¹⁶ children (512 KB of slots) at most.
NODE_BITS_MAX = 16
#: A rule that the root cut would copy into more children than this is "wide". Copies of wide rules
#: crowd every leaf they reach (and cost build time and memory), so when they would add more than
#: one entry per rule beyond :data:`WIDE_SPARE`, they get a tree of their own (:attr:`side`) and a
#: lookup walks both trees.
WIDE_SPREAD = 64
WIDE_SPARE = 1 << 12
#: A cut may copy a node's rules at most this many times over on average (HiCuts' space factor) …
SPACE = 2
#: … and a whole build at most this many times over: past that, nodes become leaves (rule sets of
#: nested short prefixes that differ only in ports cannot be cut apart; an Indexed leaf takes them).
ROOM = 8
#: Rules sampled to choose how a node splits its bits between the addresses.
_SAMPLE = 512
#: Depth at which cutting stops (crowded rules become an :class:`Indexed` leaf).
DEPTH_MAX = 8

Header = tuple[int, int, int, int, int]
Entry = tuple[int, int, int, Any]  # (priority, mask, value, rule): the first fields of a Rec
Cut = tuple[int, int, int, int]
# a rule as the builder sees it: (priority, mask, value, rule, src net, src length, dst net, dst length)
Rec = tuple[int, int, int, Any, int, int, int, int]


class Indexed(Generic[R]):
    """A crowded leaf (rules no address cut separates, e.g. many ports of one prefix pair): per
    distinct packed mask, the best rule by masked value; groups in order of their best priority so
    a lookup stops as soon as no later group can win."""

    __slots__ = ("entries", "groups")

    def __init__(self, recs: Sequence[tuple[Any, ...]]) -> None:
        tables: dict[int, dict[int, tuple[int, R]]] = {}
        for pri, mask, value, rule, *_ in recs:  # priority order: the first rule per value wins
            tables.setdefault(mask, {}).setdefault(value, (pri, rule))
        groups = [(min(e[0] for e in t.values()), m, t) for m, t in tables.items()]
        groups.sort(key=lambda g: g[0])
        self.groups = tuple(groups)
        # every rule (shadowed ones too), for updates in place
        self.entries: tuple[Entry, ...] = tuple((r[0], r[1], r[2], r[3]) for r in recs)

    def find(self, p: int) -> tuple[int, R] | None:
        """``(priority, rule)`` of the best rule matching the packed packet ``p``."""
        best: tuple[int, R] | None = None
        for min_pri, mask, table in self.groups:
            if best is not None and min_pri >= best[0]:
                break
            e = table.get(p & mask)
            if e is not None and (best is None or e[0] < best[0]):
                best = e
        return best


def find(node: Any, src: int, dst: int, p: int) -> tuple[int, Any] | None:
    """``(priority, rule)`` of the first match in one tree: the general form of the walk that
    :meth:`Classifier.lookup` inlines for its main tree."""
    while type(node) is list:
        sshift, smask, dbits, dshift, dmask = node[-1]
        node = node[(((src >> sshift) & smask) << dbits) | ((dst >> dshift) & dmask)]
    if type(node) is tuple:
        for i in range(0, len(node), 4):
            if p & node[i] == node[i + 1]:
                return node[i + 3], node[i + 2]
        return None
    return node.find(p)  # type: ignore[no-any-return]


def _first_difference(recs: list[Rec], net: int, length: int, floor: int, bits: int) -> tuple[int, int]:
    """Where a window over one address should start and how many bits are worth cutting there.

    Only rules longer than ``floor`` (the bits already cut above) matter; the window starts at the
    first bit where their prefixes differ or the shortest of them ends, and is worth at most as many
    bits as the longest prefix has below that start.
    """
    lengths = [r[length] for r in recs if r[length] > floor]
    if not lengths:
        return floor, 0
    first = next(r[net] for r in recs if r[length] > floor)
    diff = 0
    for r in recs:
        if r[length] > floor:
            diff |= r[net] ^ first
    start = max(floor, min(min(lengths), bits - diff.bit_length()))
    return start, max(lengths) - start


def _span(net: int, length: int, shift: int, width: int, bits: int) -> range:
    """Window values (``(addr >> shift) & (2**width - 1)``) that addresses of a prefix can take."""
    top = 1 << width
    if width == 0:
        return range(1)
    last = net | ((1 << (bits - length)) - 1)
    if (net >> (shift + width)) != (last >> (shift + width)):
        return range(top)
    return range((net >> shift) & (top - 1), ((last >> shift) & (top - 1)) + 1)


def _spread(r: Rec, sshift: int, sbits: int, dshift: int, dbits: int, bits: int) -> int:
    """How many children of a cut one rule goes into (its replicas)."""
    return len(_span(r[4], r[5], sshift, sbits, bits)) * len(_span(r[6], r[7], dshift, dbits, bits))


class Classifier(Generic[R]):
    """First-match classifier for one address width. Rules are identified by a string id and carry a
    priority (lower wins; unique per rule) and a wildcard mask/key over the packed protocol/port key
    (``proto << 32 | sport << 16 | dport``)."""

    __slots__ = (
        "_headers",
        "_ints",
        "_memo",
        "_patches",
        "_room",
        "bits",
        "dirty",
        "leaf_max",
        "root",
        "rules",
        "side",
        "spare",
        "wide_spread",
    )

    def __init__(self, bits: int, leaf_max: int = LEAF_MAX, wide_spread: int = WIDE_SPREAD,
                 spare: int = WIDE_SPARE) -> None:
        self.bits = bits
        self.leaf_max = leaf_max
        self.wide_spread = wide_spread
        self.spare = spare
        self.rules: dict[str, Rec] = {}
        self.root: Any = ()
        self.side: Any = None  # the tree of the widest rules, when replicating them would cost too much
        self.dirty = False
        self._ints: dict[int, int] = {}
        self._headers: dict[Header, Header] = {}
        self._memo: dict[tuple[int, ...], Any] = {}
        self._patches = 0  # changes applied to the trees in place since the last build
        self._room = 0  # rule copies the build may still make (bounds its time and memory)

    def add(self, rule_id: str, pri: int, src: tuple[int, int], dst: tuple[int, int], mask: int, key: int,
            rule: R) -> None:
        """Add (or replace) a rule: ``src``/``dst`` are ``(network, prefix length)``."""
        bits = self.bits
        (snet, slen), (dnet, dlen) = src, dst
        smask = ((1 << slen) - 1) << (bits - slen)
        dmask = ((1 << dlen) - 1) << (bits - dlen)
        pmask = (((smask << bits) | dmask) << KEY_BITS) | mask
        # shared int objects for equal masks: the few distinct values stay in cache
        pmask = self._ints.setdefault(pmask, pmask)
        value = (((snet << bits) | dnet) << KEY_BITS) | (key & mask)
        if rule_id in self.rules:
            self.remove(rule_id)
        rec: Rec = (pri, pmask, value, rule, snet, slen, dnet, dlen)
        self.rules[rule_id] = rec
        if self._patchable():
            header = self.root[-1] if type(self.root) is list else None
            wide = (
                header is not None
                and _spread(rec, header[0], header[1].bit_length(), header[3], header[2], bits)
                > self.wide_spread
            )
            if wide and self.side is None:
                self.dirty = True
            elif wide:
                self.side = self._patch(self.side, rec, True)
            else:
                self.root = self._patch(self.root, rec, True)

    def remove(self, rule_id: str) -> None:
        rec = self.rules.pop(rule_id)
        if self._patchable():
            self.root = self._patch(self.root, rec, False)
            if self.side is not None:
                self.side = self._patch(self.side, rec, False)

    # --- changes in place -------------------------------------------------------------------------

    def _patchable(self) -> bool:
        """Whether a change should patch the built trees: not when they are stale anyway, nor after
        so many patches (a bulk change such as a reorder) that one rebuild costs less."""
        if self.dirty:
            return False
        self._patches += 1
        if self._patches > 64 + len(self.rules) // 8:
            self.dirty = True
            return False
        return True

    def _patch(self, tree: Any, rec: Rec, add: bool) -> Any:
        """The tree with ``rec`` added to (or removed from) every leaf the rule's prefixes reach.

        Interior nodes are changed in place, leaves replaced; a node or leaf shared by several slots
        is patched once (``done`` keeps the old object alive so its id cannot be reused meanwhile).
        A leaf that would outgrow :data:`LEAF_MAX` is not patched: the trees are rebuilt instead.
        """
        bits = self.bits
        done: dict[int, tuple[Any, Any]] = {}

        def walk(node: Any) -> Any:
            seen = done.get(id(node))
            if seen is not None:
                return seen[1]
            if type(node) is list:
                sshift, smask, dbits, dshift, _ = node[-1]
                dspan = _span(rec[6], rec[7], dshift, dbits, bits)
                for s in _span(rec[4], rec[5], sshift, smask.bit_length(), bits):
                    for d in dspan:
                        i = (s << dbits) | d
                        node[i] = walk(node[i])
                new = node
            else:
                entries = list(
                    node.entries
                    if type(node) is Indexed
                    else ((node[i + 3], node[i], node[i + 1], node[i + 2]) for i in range(0, len(node), 4))
                )
                if add:
                    if len(entries) >= self.leaf_max and type(node) is not Indexed:
                        self.dirty = True
                        return node
                    entries.append(rec[:4])
                    entries.sort(key=lambda e: e[0])
                else:
                    entries = [e for e in entries if e[0] != rec[0] or e[3] is not rec[3]]
                new = self._leaf(entries)
            done[id(node)] = node, new
            return new

        return walk(tree)

    # --- building ---------------------------------------------------------------------------------

    def build(self) -> None:
        """Rebuild the trees from the rule table (module docstring)."""
        self.dirty = False
        self._patches = 0
        recs = sorted(self.rules.values(), key=lambda r: r[0])
        self._memo = {}
        wide: list[Rec] = []
        self._room = ROOM * len(recs) + (1 << NODE_BITS_MAX)
        cut = self._cut(recs, 0, 0, 0) if len(recs) > self.leaf_max else None
        if cut is not None:
            sstart, sbits, dstart, dbits = cut
            shifts = self.bits - sstart - sbits, sbits, self.bits - dstart - dbits, dbits, self.bits
            spread = [_spread(r, *shifts) for r in recs]
            limit = self.wide_spread
            if sum(n for n in spread if n > limit) > len(recs) + self.spare:
                wide = [r for r, n in zip(recs, spread, strict=True) if n > limit]
                recs = [r for r, n in zip(recs, spread, strict=True) if n <= limit]
        self.root = self._node(recs, 0, 0, 0)
        self.side = self._node(wide, 0, 0, 0) if wide else None
        self._memo = {}

    def _leaf(self, recs: Sequence[tuple[Any, ...]]) -> Any:
        """A leaf over rules (or entries) in priority order."""
        if len(recs) > self.leaf_max:
            return Indexed(recs)
        return tuple(x for r in recs for x in (r[1], r[2], r[3], r[0]))

    def _cut(self, recs: list[Rec], sfloor: int, dfloor: int, space: int = SPACE) -> Cut | None:
        """Where a node over ``recs`` cuts: ``(src start, src bits, dst start, dst bits)`` below the
        bits its ancestors cut (``*floor``), up to 16 bits shared by the addresses that have rules
        to separate, and fewer when the rules would be copied more than ``space`` times over on
        average (0: no limit); None when no such window separates anything."""
        bits = self.bits
        sstart, suse = _first_difference(recs, 4, 5, sfloor, bits)
        dstart, duse = _first_difference(recs, 6, 7, dfloor, bits)
        budget = min(NODE_BITS_MAX, len(recs).bit_length() + 1, suse + duse)
        if not budget:
            return None
        # split the bits between the addresses so that rules are replicated least (a sample of the
        # rules decides: the estimate only has to rank a few splits)
        sample = recs[::max(1, len(recs) // _SAMPLE)]
        def cost(sbits: int) -> tuple[int, int]:  # replicas, then the more even split
            shifts = bits - sstart - sbits, sbits, bits - dstart - (budget - sbits), budget - sbits, bits
            return sum(_spread(r, *shifts) for r in sample), abs(2 * sbits - budget)

        while budget > 0:
            sbits = min(range(max(0, budget - duse), min(suse, budget) + 1), key=cost)
            if not space or cost(sbits)[0] <= space * len(sample):
                return sstart, sbits, dstart, budget - sbits
            budget -= 2
        return None

    def _node(self, recs: list[Rec], sfloor: int, dfloor: int, depth: int) -> Any:
        if len(recs) <= self.leaf_max or depth >= DEPTH_MAX:
            return self._leaf(recs)
        cut = self._cut(recs, sfloor, dfloor)
        if cut is None:
            return self._leaf(recs)
        bits = self.bits
        sstart, sbits, dstart, dbits = cut
        sshift, dshift = bits - sstart - sbits, bits - dstart - dbits
        children: list[list[Rec]] = [[] for _ in range(1 << (sbits + dbits))]
        for r in recs:
            dspan = _span(r[6], r[7], dshift, dbits, bits)
            for s in _span(r[4], r[5], sshift, sbits, bits):
                base = s << dbits
                for d in dspan:
                    children[base + d].append(r)
        copies = sum(len(c) for c in children)
        if max(len(c) for c in children) == len(recs) or copies > self._room:
            return self._leaf(recs)  # no cut separates these rules, or the build's room is used up
        self._room -= copies
        out: list[Any] = []
        memo = self._memo
        for c in children:
            ident = tuple(id(r) for r in c)
            sub = memo.get(ident)
            if sub is None:
                sub = memo[ident] = self._node(c, sstart + sbits, dstart + dbits, depth + 1)
            out.append(sub)
        header = (sshift, (1 << sbits) - 1, dbits, dshift, (1 << dbits) - 1)
        out.append(self._headers.setdefault(header, header))
        return out

    # --- lookup -----------------------------------------------------------------------------------

    def lookup(self, src: int, dst: int, key: int) -> R | None:
        """The best-priority rule matching the packet (``key`` = packed protocol and ports), or None."""
        if self.dirty:
            self.build()
        if self.side is not None:
            p = (((src << self.bits) | dst) << KEY_BITS) | key
            a, b = find(self.root, src, dst, p), find(self.side, src, dst, p)
            best = b if a is None or (b is not None and b[0] < a[0]) else a
            return None if best is None else best[1]
        node = self.root
        while type(node) is list:
            sshift, smask, dbits, dshift, dmask = node[-1]
            node = node[(((src >> sshift) & smask) << dbits) | ((dst >> dshift) & dmask)]
        if type(node) is tuple:
            n = len(node)
            if not n:
                return None
            p = (((src << self.bits) | dst) << KEY_BITS) | key
            i = 0
            while i < n:
                if p & node[i] == node[i + 1]:
                    return node[i + 2]  # type: ignore[no-any-return]
                i += 4
            return None
        best = node.find((((src << self.bits) | dst) << KEY_BITS) | key)
        return None if best is None else best[1]
