"""UDP 500/4500 sockets over loopback: marker demux, keepalives, ESP hand-off, source pinning."""

from __future__ import annotations

import asyncio
import socket

import pytest

from ipsecd.daemon.transport import NON_ESP_MARKER, Datagram, Transport, TransportError


async def _settle(cond, timeout: float = 2.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond() and loop.time() < end:
        await asyncio.sleep(0.005)


def _udp(host: str = "127.0.0.1") -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.settimeout(2)
    return s


def test_demux_ike_keepalive_esp() -> None:
    async def main() -> None:
        ike: list[Datagram] = []
        esp: list[bytes] = []
        t = Transport(ike.append, lambda d, lo, re: esp.append(d), ike_port=0, natt_port=0,
                      local_addresses=["127.0.0.1"])
        t.open(asyncio.get_running_loop())
        ports = {natt: addr[1] for addr, natt in t.bound}
        peer = _udp()
        peer.sendto(b"IKE-500", ("127.0.0.1", ports[False]))
        peer.sendto(NON_ESP_MARKER + b"IKE-4500", ("127.0.0.1", ports[True]))
        peer.sendto(b"\xff", ("127.0.0.1", ports[True]))
        peer.sendto(b"\x00\x00\x10\x01" + b"\x00\x00\x00\x01" + b"payload", ("127.0.0.1", ports[True]))
        peer.sendto(b"\x01\x02", ("127.0.0.1", ports[True]))  # too short for ESP, not IKE: dropped
        await _settle(lambda: len(ike) == 2 and len(esp) == 1 and t.counters["dropped"] == 1)
        assert [(d.data, d.natt) for d in ike] == [(b"IKE-500", False), (b"IKE-4500", True)]
        assert ike[0].local == ("127.0.0.1", ports[False]) and ike[0].remote == peer.getsockname()
        assert esp == [b"\x00\x00\x10\x01\x00\x00\x00\x01payload"]
        assert t.counters["keepalives"] == 1
        # replies: on 4500 the marker is added, on 500 not
        t.send(b"R1", ike[0].local, ike[0].remote)
        t.send(b"R2", ike[1].local, ike[1].remote)
        got = {peer.recvfrom(100) for _ in range(2)}
        assert got == {
            (b"R1", ("127.0.0.1", ports[False])),
            (NON_ESP_MARKER + b"R2", ("127.0.0.1", ports[True])),
        }
        # a NAT-keepalive: one 0xFF byte from the NAT-T port, no marker (RFC 3948 §2.3)
        t.send_keepalive(ike[1].local, ike[1].remote)
        assert peer.recvfrom(100) == (b"\xff", ("127.0.0.1", ports[True]))
        t.close()
        peer.close()

    asyncio.run(main())


def test_wildcard_bind_reports_and_pins_local_address() -> None:
    async def main() -> None:
        ike: list[Datagram] = []
        t = Transport(ike.append, ike_port=0, natt_port=0, own_natt=False)
        t.open(asyncio.get_running_loop())
        port = next(addr[1] for addr, natt in t.bound if not natt and addr[0] == "0.0.0.0")
        peer = _udp("127.0.0.1")
        peer.sendto(b"hello", ("127.0.0.2", port))
        await _settle(lambda: bool(ike))
        assert ike[0].local == ("127.0.0.2", port)
        t.send(b"back", ike[0].local, ike[0].remote)
        data, src = peer.recvfrom(100)
        assert (data, src) == (b"back", ("127.0.0.2", port))
        t.close()
        peer.close()

    asyncio.run(main())


def test_natt_owned_by_dataplane_goes_through_its_sender() -> None:
    async def main() -> None:
        ike: list[Datagram] = []
        sent: list[tuple[bytes, tuple[str, int]]] = []
        t = Transport(ike.append, ike_port=0, natt_port=45000, local_addresses=["127.0.0.1"], own_natt=False)
        t.open(asyncio.get_running_loop())
        assert all(not natt for _, natt in t.bound)
        t.send(b"x", ("127.0.0.1", 45000), ("127.0.0.9", 4500))
        assert t.counters["send-errors"] == 1  # no sender yet: counted, not raised
        t.natt_sender = lambda d, lo, re: sent.append((d, re))
        t.send(b"x", ("127.0.0.1", 45000), ("127.0.0.9", 4500))
        assert sent == [(b"x", ("127.0.0.9", 4500))]
        t.send_keepalive(("127.0.0.1", 45000), ("127.0.0.9", 4500))
        assert t.counters["send-errors"] == 2  # no keepalive sender yet
        t.keepalive_sender = lambda lo, re: sent.append((b"keepalive", lo + re))
        t.send_keepalive(("127.0.0.1", 45000), ("127.0.0.9", 4500))
        assert sent[-1] == (b"keepalive", ("127.0.0.1", 45000, "127.0.0.9", 4500))  # from our address
        t.ike_from_dataplane(b"in", ("127.0.0.1", 45000), ("127.0.0.9", 4500))
        assert ike[-1] == Datagram(b"in", ("127.0.0.1", 45000), ("127.0.0.9", 4500), natt=True)
        t.close()

    asyncio.run(main())


def test_handler_exception_does_not_kill_socket() -> None:
    async def main() -> None:
        seen: list[bytes] = []

        def handler(d: Datagram) -> None:
            seen.append(d.data)
            if d.data == b"boom":
                raise RuntimeError("bug")

        t = Transport(handler, ike_port=0, natt_port=0, local_addresses=["127.0.0.1"])
        t.open(asyncio.get_running_loop())
        port = next(addr[1] for addr, natt in t.bound if not natt)
        peer = _udp()
        peer.sendto(b"boom", ("127.0.0.1", port))
        peer.sendto(b"fine", ("127.0.0.1", port))
        await _settle(lambda: len(seen) == 2)
        assert seen == [b"boom", b"fine"]
        t.close()
        peer.close()

    asyncio.run(main())


def test_bind_conflict_is_one_clear_error() -> None:
    async def main() -> None:
        blocker = _udp()
        port = blocker.getsockname()[1]
        blocker.close()
        blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        blocker.bind(("127.0.0.1", port))
        t = Transport(lambda d: None, ike_port=port, natt_port=0, local_addresses=["127.0.0.1"])
        # SO_REUSEADDR does not let two UDP sockets share a unicast port without SO_REUSEPORT
        with pytest.raises(TransportError, match=f"127.0.0.1:{port}"):
            t.open(asyncio.get_running_loop())
        assert t.bound == []
        blocker.close()

    asyncio.run(main())


def test_every_socket_goes_through_the_data_plane_hook() -> None:
    """The kernel data plane must see each IKE socket once bound (bypass policies, UDP_ENCAP on the
    NAT-T one): the hook gets the bound socket and whether it is the NAT-T socket."""

    async def main() -> None:
        seen: list[tuple[int, bool]] = []
        t = Transport(
            lambda d: None,
            ike_port=0,
            natt_port=0,
            local_addresses=["127.0.0.1"],
            prepare=lambda sock, natt: seen.append((sock.getsockname()[1], natt)),
        )
        t.open(asyncio.get_running_loop())
        try:
            assert sorted(natt for _, natt in seen) == [False, True]
            assert all(port != 0 for port, _ in seen)  # after bind
        finally:
            t.close()
        failing = Transport(
            lambda d: None,
            ike_port=0,
            natt_port=0,
            local_addresses=["127.0.0.1"],
            prepare=lambda sock, natt: (_ for _ in ()).throw(OSError(1, "Operation not permitted")),
        )
        with pytest.raises(TransportError, match="Operation not permitted"):
            failing.open(asyncio.get_running_loop())
        assert failing.bound == []

    asyncio.run(main())


def test_remembered_senders_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17 finding 4: every sender's address is remembered (one tuple shared per peer), but at
    most ``_ADDR_CACHE`` of them: spoofed sources cannot grow it (scaled down to 8 here)."""
    from ipsecd.daemon import transport

    monkeypatch.setattr(transport, "_ADDR_CACHE", 8)

    async def main() -> None:
        got: list[Datagram] = []
        t = Transport(got.append, ike_port=0, natt_port=0, local_addresses=["127.0.0.1"])
        t.open(asyncio.get_running_loop())
        port = next(addr[1] for addr, natt in t.bound if not natt)
        senders = [_udp() for _ in range(40)]
        for s in senders:
            s.sendto(b"IKE", ("127.0.0.1", port))
        await _settle(lambda: len(got) == 40)
        assert len(got) == 40
        assert max(len(ep._remotes) for ep in t._endpoints) == 8
        t.close()
        for s in senders:
            s.close()

    asyncio.run(main())
