"""Address pools for mode-config (``/ip ipsec mode-config address-pool`` naming an ``/ip pool``).

A pool is a list of non-overlapping ranges written as RouterOS writes ``/ip pool ranges``:
``10.0.0.2-10.0.0.254,10.1.0.0/24,10.2.0.7`` (a prefix means all of its addresses; IPv6 works the
same way, one family per pool). The responder leases one address per peer identity (IKEv2
INTERNAL_IP4/6_ADDRESS, RFC 7296 §3.15.1; IKEv1 mode-config), and

- a peer that already holds a lease gets the same address again (a re-authentication or a second
  CHILD_SA must not move it);
- an address the client asks for is honoured when it is in the pool and free (§3.15.1);
- otherwise the address the identity had last time, if still free, so reconnecting clients keep it;
- otherwise the next free address after the last one handed out (round robin, so a just-released
  address is not immediately reused by someone else);
- an exhausted pool hands over to its ``next-pool`` (as ``/ip pool next-pool`` does), if any.

Allocation scans at most (leases + 1) addresses; nothing enumerates the pool.
"""

from __future__ import annotations

from bisect import bisect_right
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from itertools import pairwise

from ipsecd.policy.errors import PoolError, PoolExhaustedError
from ipsecd.policy.selectors import make_address, network_range
from ipsecd.policy.types import IPAddress

#: Identities remembered after release (to hand back their old address), per pool.
STICKY_MAX = 4096


def parse_ranges(text: str) -> tuple[int, list[tuple[int, int]]]:
    """``(ip version, sorted ranges)`` of a ``ranges=`` value; bad, mixed or overlapping ranges are
    refused with one line naming the offending part."""
    ranges: list[tuple[int, int]] = []
    version = 0
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise PoolError(f"empty range in {text!r}")
        try:
            if "/" in part:
                net = ip_network(part, strict=False)
                v, (lo, hi) = net.version, network_range(net)
            elif "-" in part:
                a, b = (ip_address(x.strip()) for x in part.split("-", 1))
                if a.version != b.version:
                    raise PoolError(f"range {part!r} mixes IPv4 and IPv6")
                v, lo, hi = a.version, int(a), int(b)
            else:
                a = ip_address(part)
                v, lo, hi = a.version, int(a), int(a)
        except ValueError as e:
            raise PoolError(f"bad pool range {part!r}: {e}") from None
        if lo > hi:
            raise PoolError(f"range {part!r} ends before it starts")
        if version and v != version:
            raise PoolError(f"pool ranges {text!r} mix IPv4 and IPv6")
        version = v
        ranges.append((lo, hi))
    ranges.sort()
    for (_, hi), (lo, _) in pairwise(ranges):
        if lo <= hi:
            raise PoolError(f"pool ranges {text!r} overlap")
    return version, ranges


class AddressPool:
    """One pool and its leases, keyed by peer identity."""

    __slots__ = (
        "_by_addr",
        "_cursor",
        "_leases",
        "_starts",
        "_sticky",
        "name",
        "next_pool",
        "ranges",
        "size",
        "version",
    )

    def __init__(self, name: str, ranges: str, next_pool: AddressPool | None = None) -> None:
        self.name = name
        self.version, self.ranges = parse_ranges(ranges)
        self._starts = [lo for lo, _ in self.ranges]
        self.size = sum(hi - lo + 1 for lo, hi in self.ranges)
        self.next_pool = next_pool
        self._leases: dict[str, int] = {}  # identity -> address
        self._by_addr: dict[int, str] = {}
        self._sticky: dict[str, int] = {}  # identity -> address it had (insertion order = age)
        self._cursor = (0, self.ranges[0][0])  # (range index, next address to try)

    def __contains__(self, addr: object) -> bool:
        if isinstance(addr, str):
            try:
                addr = ip_address(addr)
            except ValueError:
                return False
        if not isinstance(addr, (IPv4Address, IPv6Address)):
            return False
        return addr.version == self.version and self._index(int(addr)) is not None

    def _index(self, value: int) -> int | None:
        i = bisect_right(self._starts, value) - 1
        return i if i >= 0 and value <= self.ranges[i][1] else None

    @property
    def free(self) -> int:
        return self.size - len(self._by_addr)

    def lease(self, identity: str) -> IPAddress | None:
        value = self._leases.get(identity)
        return make_address(self.version, value) if value is not None else None

    def leases(self) -> dict[str, IPAddress]:
        return {ident: make_address(self.version, v) for ident, v in self._leases.items()}

    def owner(self, addr: IPAddress) -> str | None:
        return self._by_addr.get(int(addr)) if addr.version == self.version else None

    def allocate(self, identity: str, requested: IPAddress | None = None) -> IPAddress:
        """Lease an address to ``identity`` (see the module docstring for which one)."""
        pools = [self, *self._chain()]
        for pool in pools:  # a lease anywhere in the next-pool chain stays where it is
            held = pool._leases.get(identity)
            if held is not None:
                return make_address(pool.version, held)
        for pool in pools:
            value = pool._pick(identity, requested)
            if value is not None:
                return pool._take(identity, value)
        raise PoolExhaustedError(f"address pool {self.name!r} is exhausted ({self.size} addresses leased)")

    def _chain(self) -> list[AddressPool]:
        """The ``next-pool`` chain after this pool (a cycle ends it)."""
        out: list[AddressPool] = []
        pool = self.next_pool
        while pool is not None and pool is not self and pool not in out:
            out.append(pool)
            pool = pool.next_pool
        return out

    def _pick(self, identity: str, requested: IPAddress | None) -> int | None:
        for wish in (int(requested) if requested is not None and requested.version == self.version else None,
                     self._sticky.get(identity)):
            if wish is not None and wish not in self._by_addr and self._index(wish) is not None:
                return wish
        return self._next_free()

    def _take(self, identity: str, value: int) -> IPAddress:
        self._leases[identity] = value
        self._by_addr[value] = identity
        self._sticky.pop(identity, None)
        return make_address(self.version, value)

    def _next_free(self) -> int | None:
        if len(self._by_addr) >= self.size:
            return None
        i, value = self._cursor
        while True:
            lo, hi = self.ranges[i]
            if value > hi:
                i = (i + 1) % len(self.ranges)
                value = self.ranges[i][0]
                continue
            value = max(value, lo)
            if value not in self._by_addr:
                self._cursor = (i, value + 1)
                return value
            value += 1

    def release(self, identity: str) -> IPAddress | None:
        """End an identity's lease (its address is remembered for its next connection)."""
        for pool in [self, *self._chain()]:
            value = pool._leases.pop(identity, None)
            if value is not None:
                del pool._by_addr[value]
                pool._sticky[identity] = value
                if len(pool._sticky) > STICKY_MAX:
                    del pool._sticky[next(iter(pool._sticky))]
                return make_address(pool.version, value)
        return None
