"""Quick mode (RFC 2409 §5.5), with PFS, proxy IDs, RESPONDER-LIFETIME and the commit bit.

        Initiator                          Responder
       -----------                        -----------
        HDR*, HASH(1), SA, Ni [, KE ] [, IDci, IDcr ] [, NAT-OAi, NAT-OAr]  -->
                    <--  HDR*, HASH(2), SA, Nr [, KE ] [, IDci, IDcr ] [, N(RESPONDER-LIFETIME)]
        HDR*, HASH(3)                -->

    HASH(1) = prf(SKEYID_a, M-ID | SA | Ni [ | KE ] [ | IDci | IDcr ])   (the payloads after HASH)
    HASH(2) = prf(SKEYID_a, M-ID | Ni_b | SA | Nr [ | KE ] [ | IDci | IDcr ])
    HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b)
    KEYMAT  = prf(SKEYID_d, [ g(qm)^xy | ] protocol | SPI | Ni_b | Nr_b), expanded; each direction
              with the receiver's SPI; the encryption key comes first, then the integrity key.

Without IDs the proxies are the ISAKMP peers' addresses. The commit bit (RFC 2408 §3.1, §4.7.2)
is honoured: a responder that sets it makes us wait for its CONNECTED notify before installing;
an initiator that sets it gets CONNECTED from us after (3). We never set it ourselves.
"""

from __future__ import annotations

from ipaddress import ip_network
from typing import TYPE_CHECKING

from ipsecd.crypto import keymat
from ipsecd.crypto.errors import CryptoError
from ipsecd.crypto.ke import KeyExchange, new_ke
from ipsecd.policy.selectors import parse_address
from ipsecd.policy.types import Direction, IPNetwork, IpsecProto, Lifetime, Mode, SaSpec, Selector, UdpEncap
from ipsecd.wire.errors import WireError
from ipsecd.wire.ikev1 import vendor
from ipsecd.wire.ikev1.attributes import Attribute, decode_attributes, encode_attributes
from ipsecd.wire.ikev1.enums import ExchangeType, IdType, IpsecAttr, LifeType, NotifyType, ProtocolId
from ipsecd.wire.ikev1.header import Header
from ipsecd.wire.ikev1.message import encode_chain
from ipsecd.wire.ikev1.payloads import (
    HashPayload,
    IdPayload,
    KePayload,
    NatOaPayload,
    NoncePayload,
    NotifyPayload,
    Payload,
)
from ipsecd.wire.ikev1.sa import SaPayload

from ..events import ChildSaInstalled
from ..v2.config import ChildConfig
from .config import V1ProtocolError
from .exchange import Exchange, Outgoing
from .ids import proxy_id, proxy_network
from .phase1 import NONCE_SIZE, first
from .proposals import Phase2Algs, parse_phase2, phase2_candidates, phase2_offer, select_phase2

if TYPE_CHECKING:
    from .sa import Ikev1Sa

_PROTO = {IpsecProto.ESP: ProtocolId.ESP, IpsecProto.AH: ProtocolId.AH}


class QuickMode(Exchange):
    exchange_type = ExchangeType.QUICK

    def __init__(self, sa: Ikev1Sa, message_id: int, child: ChildConfig | None = None) -> None:
        self.sa = sa
        self.message_id = message_id
        self.child = child
        self.initiator = child is not None  # we started it
        self.step = 0
        self.ni = b""
        self.nr = b""
        self.ke: KeyExchange | None = None
        self.g_qm = b""
        self.my_spi = 0
        self.peer_spi = 0
        self.algs: Phase2Algs | None = None
        self.ids: tuple[IdPayload, IdPayload] | None = None  # (IDci, IDcr) as negotiated
        self.commit = False  # the peer set the commit bit
        self.mid = message_id.to_bytes(4, "big")

    # -- hashes ----------------------------------------------------------------------------------

    def _prf(self, data: bytes) -> bytes:
        keys = self.sa.keys
        assert keys is not None
        return keys.prf(keys.a, data)

    def _verify(self, payloads: list[Payload], want_prefix: bytes) -> list[Payload]:
        """Check the HASH that must come first (§5.5) over the payloads after it; return those."""
        if not payloads or not isinstance(payloads[0], HashPayload):
            raise V1ProtocolError(
                NotifyType.INVALID_HASH_INFORMATION, "quick mode message without leading HASH", fatal=False
            )
        rest = payloads[1:]
        want = self._prf(want_prefix + encode_chain(rest)[1]) if rest else self._prf(want_prefix)
        self.sa.check_hash(payloads[0].data, want)
        return rest

    # -- initiator -------------------------------------------------------------------------------

    def start(self) -> Outgoing:
        sa, child = self.sa, self.child
        assert child is not None
        proto = IpsecProto.AH if child.name in sa.options.ah else IpsecProto.ESP
        self.my_spi = sa.spi_alloc(proto)
        draft = sa.natt is not None and sa.natt != vendor.NATT_RFC3947
        offer = phase2_offer(child, sa.options, self.my_spi.to_bytes(4, "big"), sa.natted, draft)
        self.ni = sa.rng(NONCE_SIZE)
        rest: list[Payload] = [offer, NoncePayload(self.ni)]
        pfs = next((c[0].pfs for c in phase2_candidates(child, sa.options) if c), None)
        if pfs is not None:
            self.ke = new_ke(pfs.id, sa.rng)
            rest.append(KePayload(self.ke.public_value()))
        sel = child.selector
        self.ids = (
            proxy_id(sel.src, sel.protocol, sel.src_port),
            proxy_id(sel.dst, sel.protocol, sel.dst_port),
        )
        rest += list(self.ids)
        if child.mode == Mode.TRANSPORT and sa.natted:
            rest += self._nat_oa(draft)
        self.step = 1
        return Outgoing([HashPayload(self._prf(self.mid + encode_chain(rest)[1])), *rest], True, True)

    def _nat_oa(self, draft: bool) -> list[Payload]:
        out: list[Payload] = []
        for host in (self.sa.addr[0][0], self.sa.addr[1][0]):
            ip = parse_address(host)
            out.append(
                NatOaPayload(IdType.IPV4_ADDR if ip.version == 4 else IdType.IPV6_ADDR, ip.packed, draft)
            )
        return out

    def process(self, header: Header, payloads: list[Payload]) -> Outgoing | None:
        if self.initiator:
            if self.step == 1:
                return self._reply(header, payloads)
            return None
        if self.step == 0:
            return self._request(header, payloads)
        if self.step == 2:
            self._verify(payloads, b"\x00" + self.mid + self.ni + self.nr)
            self.commit = self.commit or header.commit
            self.done = True
            self.step = 3
            self._install(initiator=False)
            if self.commit:
                self.sa.send_notify(NotifyType.CONNECTED, ProtocolId.ESP, self.my_spi.to_bytes(4, "big"))
        return None

    def _reply(self, header: Header, payloads: list[Payload]) -> Outgoing:
        rest = self._verify(payloads, self.mid + self.ni)
        sa_p = first(rest, SaPayload, "SA")
        child = self.child
        assert child is not None
        if len(sa_p.proposals) != 1 or len(sa_p.proposals[0].transforms) != 1:
            raise V1ProtocolError(NotifyType.BAD_PROPOSAL_SYNTAX, "quick mode reply must carry one transform",
                                  fatal=False)
        prop = sa_p.proposals[0]
        try:
            algs = parse_phase2(prop.protocol, prop.transforms[0])
        except (CryptoError, ValueError) as e:
            raise V1ProtocolError(
                NotifyType.NO_PROPOSAL_CHOSEN, f"reply transform: {e}", fatal=False
            ) from None
        ours = [a for c in phase2_candidates(child, self.sa.options) for a in c]
        if not any(
            (o.proto, o.encr, o.integ, o.pfs) == (algs.proto, algs.encr, algs.integ, algs.pfs) for o in ours
        ):
            raise V1ProtocolError(
                NotifyType.NO_PROPOSAL_CHOSEN, "the reply chose what we did not offer", fatal=False
            )
        if len(prop.spi) != 4:
            raise V1ProtocolError(NotifyType.INVALID_SPI, f"SPI of {len(prop.spi)} bytes", fatal=False)
        self.peer_spi = int.from_bytes(prop.spi, "big")
        self.nr = first(rest, NoncePayload, "NONCE").data
        self.g_qm = self._pfs(rest, algs)
        ids = [p for p in rest if isinstance(p, IdPayload)]
        if (
            ids
            and self.ids is not None
            and [i.encode_body() for i in ids] != [i.encode_body() for i in self.ids]
        ):
            raise V1ProtocolError(
                NotifyType.INVALID_ID_INFORMATION, "the reply changed the proxy IDs", fatal=False
            )
        life, kbytes = algs.lifetime or child.lifetime, algs.lifebytes
        for n in rest:
            if isinstance(n, NotifyPayload) and n.notify_type == NotifyType.RESPONDER_LIFETIME:
                life, kbytes = _responder_lifetime(n.data, life, kbytes)
        self.algs = Phase2Algs(algs.proto, algs.encr, algs.integ, algs.pfs, algs.mode, life, kbytes)
        self.commit = header.commit
        self.step = 3
        if not self.commit:
            self.done = True
            self._install(initiator=True)
        return Outgoing([HashPayload(self._prf(b"\x00" + self.mid + self.ni + self.nr))], True, False)

    def connected(self) -> None:
        """The responder's CONNECTED for a committed exchange: install now (RFC 2408 §4.7.2)."""
        if self.commit and not self.done and self.step == 3:
            self.done = True
            self._install(initiator=True)

    def _pfs(self, rest: list[Payload], algs: Phase2Algs) -> bytes:
        ke = next((p for p in rest if isinstance(p, KePayload)), None)
        if algs.pfs is None:
            return b""
        if ke is None:
            raise V1ProtocolError(NotifyType.INVALID_KEY_INFORMATION, "PFS group without KE", fatal=False)
        if self.ke is None or self.ke.group != algs.pfs.id:
            self.ke = new_ke(algs.pfs.id, self.sa.rng)
        try:
            return self.ke.compute_shared(ke.data)
        except CryptoError as e:
            raise V1ProtocolError(NotifyType.INVALID_KEY_INFORMATION, f"bad KE: {e}", fatal=False) from None

    # -- responder -------------------------------------------------------------------------------

    def _request(self, header: Header, payloads: list[Payload]) -> Outgoing:
        sa = self.sa
        rest = self._verify(payloads, self.mid)
        offer = first(rest, SaPayload, "SA")
        self.ni = first(rest, NoncePayload, "NONCE").data
        ids = [p for p in rest if isinstance(p, IdPayload)]
        if len(ids) not in (0, 2):
            raise V1ProtocolError(NotifyType.INVALID_ID_INFORMATION, f"{len(ids)} ID payloads", fatal=False)
        if ids:
            self.ids = (ids[0], ids[1])
        child = self._child()
        self.child = child
        sa.admit_proxies(self._proxies())
        chosen, algs = select_phase2(offer, child, sa.options)
        if len(chosen.spi) != 4:
            raise V1ProtocolError(NotifyType.INVALID_SPI, f"SPI of {len(chosen.spi)} bytes", fatal=False)
        self.peer_spi = int.from_bytes(chosen.spi, "big")
        self.my_spi = sa.spi_alloc(algs.proto)
        self.nr = sa.rng(NONCE_SIZE)
        reply_rest: list[Payload] = []
        if algs.pfs is not None:
            self.ke = new_ke(algs.pfs.id, sa.rng)
            self.g_qm = self._pfs(rest, algs)
        self.algs = algs
        chosen.spi = self.my_spi.to_bytes(4, "big")
        reply_rest += [SaPayload([chosen]), NoncePayload(self.nr)]
        if self.ke is not None:
            reply_rest.append(KePayload(self.ke.public_value()))
        if ids:
            reply_rest += ids
        theirs = parse_phase2(chosen.protocol, chosen.transforms[0]).lifetime
        if algs.lifetime and algs.lifetime != theirs:
            attrs = encode_attributes(
                [
                    Attribute(IpsecAttr.SA_LIFE_TYPE, LifeType.SECONDS),
                    Attribute(IpsecAttr.SA_LIFE_DURATION, int(algs.lifetime)),
                ]
            )
            reply_rest.append(
                NotifyPayload(NotifyType.RESPONDER_LIFETIME, chosen.spi, attrs, chosen.protocol)
            )
        self.commit = header.commit
        self.step = 2
        return Outgoing(
            [HashPayload(self._prf(self.mid + self.ni + encode_chain(reply_rest)[1])), *reply_rest],
            True,
            True,
        )

    def _proxies(self) -> tuple[Selector, Selector] | None:
        """(the initiator's side, the responder's side) as selectors, from IDci/IDcr."""
        if self.ids is None:
            return None
        ci, cr = self.ids
        return (Selector(proxy_network(ci), proxy_network(cr), ci.protocol, ci.port, cr.port),
                Selector(proxy_network(cr), proxy_network(ci), cr.protocol, cr.port, ci.port))

    def _child(self) -> ChildConfig:
        """The policy whose selectors hold the initiator's proxy IDs (ours is the responder's side)."""
        sa = self.sa
        prox = self._proxies()
        if prox is None:
            local, remote = _host(sa.addr[0][0]), _host(sa.addr[1][0])
            wanted = Selector(local, remote)
        else:
            wanted = prox[1]
        for child in sa.config.children:
            s = child.selector
            if (
                _within(wanted.src, s.src)
                and _within(wanted.dst, s.dst)
                and s.protocol in (0, wanted.protocol)
                and s.src_port in (0, wanted.src_port)
                and s.dst_port in (0, wanted.dst_port)
            ):
                return child
        raise V1ProtocolError(
            NotifyType.INVALID_ID_INFORMATION,
            f"no policy for {wanted.dst} -> {wanted.src} (proto {wanted.protocol})",
            fatal=False,
        )

    # -- both ------------------------------------------------------------------------------------

    def _install(self, *, initiator: bool) -> None:
        sa, child, algs = self.sa, self.child, self.algs
        assert child is not None and algs is not None and sa.keys is not None
        proto_id = _PROTO[algs.proto]
        ek = algs.encr.keymat_size if algs.encr is not None else 0
        ik = algs.integ.key_size if algs.integ is not None else 0
        ni, nr = self.ni, self.nr

        keys = sa.keys

        def km(spi: int) -> tuple[bytes, bytes]:
            raw = keymat.ikev1_quick_mode_keymat(
                keys.algs.hash.name,
                keys.d,
                int(proto_id),
                spi.to_bytes(4, "big"),
                ni,
                nr,
                ek + ik,
                self.g_qm or None,
            )
            return raw[:ek], raw[ek:]

        in_e, in_a = km(self.my_spi)
        out_e, out_a = km(self.peer_spi)
        prox = self._proxies()
        if prox is None:
            out_sel = Selector(_host(sa.addr[0][0]), _host(sa.addr[1][0]))
        else:
            out_sel = prox[0] if initiator else prox[1]
        in_sel = Selector(out_sel.dst, out_sel.src, out_sel.protocol, out_sel.dst_port, out_sel.src_port)
        (lhost, lport), (rhost, rport) = sa.addr
        encap = UdpEncap(lport, rport) if sa.natted else None
        life = Lifetime(soft_seconds=algs.lifetime * 0.9, hard_seconds=algs.lifetime,
                        soft_bytes=algs.lifebytes * 1024 * 9 // 10, hard_bytes=algs.lifebytes * 1024)
        encr = algs.encr.name if algs.encr is not None else "null"
        integ = algs.integ.name if algs.integ is not None else "null"

        def spec(
            spi: int, direction: Direction, src: str, dst: str, ekey: bytes, akey: bytes, sel: Selector
        ) -> SaSpec:
            return SaSpec(
                spi,
                direction,
                algs.proto,
                algs.mode,
                parse_address(src),
                parse_address(dst),
                encr,
                ekey,
                integ,
                akey,
                child.policy_id,
                sel,
                encap,
                lifetime=life,
                reqid=child.reqid,
            )

        inbound = spec(self.my_spi, Direction.IN, rhost, lhost, in_e, in_a, in_sel)
        outbound = spec(self.peer_spi, Direction.OUT, lhost, rhost, out_e, out_a, out_sel)
        sa.child_installed(self.message_id, algs.proto, ChildSaInstalled(child.name, inbound, outbound),
                           answered=not initiator)


def _host(address: str) -> IPNetwork:
    return ip_network(address)


def _within(inner: IPNetwork, outer: IPNetwork) -> bool:
    return inner.version == outer.version and inner.subnet_of(outer)  # type: ignore[arg-type]


def _responder_lifetime(data: bytes, seconds: float, kbytes: int) -> tuple[float, int]:
    """RFC 2407 §4.6.3.1: the responder's shorter lifetimes (seconds and kilobytes pairs); the
    kilobytes are enforced by the data plane's byte counters (soft at 90 %, as the seconds)."""
    try:
        kind = None
        for a in decode_attributes(data):
            if a.type == IpsecAttr.SA_LIFE_TYPE:
                kind = a.number
            elif a.type == IpsecAttr.SA_LIFE_DURATION and a.number > 0:
                if kind == LifeType.SECONDS and a.number < seconds:
                    seconds = float(a.number)
                elif kind == LifeType.KILOBYTES and (not kbytes or a.number < kbytes):
                    kbytes = a.number
    except WireError:  # a garbled notify keeps our lifetimes
        pass
    return seconds, kbytes
