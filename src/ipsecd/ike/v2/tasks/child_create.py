"""CHILD_SA creation: in IKE_AUTH and by CREATE_CHILD_SA (RFC 7296 §1.3.1, §2.9, §2.17).

Initiator: ESP proposals from the policy's proposal (PFS group as a DH transform, with a KE payload,
in CREATE_CHILD_SA only), TSi/TSr from the policy, USE_TRANSPORT_MODE for transport mode.
Responder: picks the first configured child whose selectors intersect what was proposed, narrows
(TS_UNACCEPTABLE when nothing is left), chooses the proposal by its own preference
(NO_PROPOSAL_CHOSEN, with the operator's explanation) and checks the KE group (INVALID_KE_PAYLOAD).
Failures about the first CHILD_SA leave the IKE SA standing. KEYMAT = prf+(SK_d, [g^ir |] Ni | Nr),
split i→r encryption, i→r integrity, r→i encryption, r→i integrity.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from typing import TYPE_CHECKING

from ipsecd.crypto import keymat, registry
from ipsecd.crypto.errors import CryptoError, UnknownAlgorithmError
from ipsecd.crypto.ke import KeyExchange, new_ke
from ipsecd.policy.errors import SelectorError
from ipsecd.policy.selectors import parse_address
from ipsecd.policy.types import Direction, IpsecProto, Lifetime, Mode, SaSpec, Selector, UdpEncap
from ipsecd.wire.enums import DhGroup, ExchangeType, NotifyType, ProtocolId, TransformType
from ipsecd.wire.ikev2.message import Message
from ipsecd.wire.ikev2.payloads.base import Payload
from ipsecd.wire.ikev2.payloads.notify import NotifyPayload
from ipsecd.wire.ikev2.payloads.sa import Proposal, SaPayload
from ipsecd.wire.ikev2.payloads.simple import KePayload, NoncePayload
from ipsecd.wire.ikev2.payloads.ts import TrafficSelector, TsPayload

from ...errors import IkeProtocolError
from ...events import ChildSaInstalled, NegotiationFailed
from ..child import ChildSa
from ..config import ChildConfig
from ..proposals import ChildAlgs, child_algs, child_proposals, describe, explain, proposal_contains, select
from ..state import IkeState
from ..ts import covering, host_ts, is_within, local_remote, narrow, sa_selectors, to_selector, to_ts
from .base import NEED_MORE, Retry, Status, Task
from .ike_eap import defer
from .ike_init import NONCE_SIZE

if TYPE_CHECKING:
    from ..sa import IkeSa


# Frozen values every CHILD_SA of a policy (or of a NAT-T port pair) shares: one object, not one per SA.
@lru_cache(maxsize=64)
def _lifetime(seconds: float) -> Lifetime:
    return Lifetime(soft_seconds=seconds * 0.9, hard_seconds=seconds)


@lru_cache(maxsize=256)
def _encap(sport: int, dport: int) -> UdpEncap:
    return UdpEncap(sport, dport)


def _without_ke(proposals: list[Proposal]) -> list[Proposal]:
    """KE transforms mean nothing in IKE_AUTH (RFC 7296 §1.2); some peers send them anyway."""
    if not any(t.type == TransformType.DH for p in proposals for t in p.transforms):
        return proposals
    return [Proposal(p.number, p.protocol, p.spi, [t for t in p.transforms if t.type != TransformType.DH])
            for p in proposals]


def _named(cfg: ChildConfig) -> str:
    """A CHILD_SA in a log line: its name (peer/policy id) and the policy's addresses, which is what
    an operator recognises."""
    return f"{cfg.name} ({cfg.selector.src} -> {cfg.selector.dst})"


def _packet_first(head: list[TrafficSelector], narrowed: list[TrafficSelector]) -> list[TrafficSelector]:
    """``narrowed`` led by the narrowed first proposed selector (the packet's, RFC 7296 §2.9), which
    narrowing drops when a wider one contains it; unchanged (no copy) when it leads already."""
    return narrowed if not head or head[0] == narrowed[0] else head[:1] + narrowed


class ChildCreate(Task):
    __slots__ = (
        "_algs",
        "_ke_public",
        "_shared",
        "chosen",
        "config",
        "deferred",
        "error",
        "group",
        "in_ike_auth",
        "ke",
        "my_spi",
        "nonce_i",
        "nonce_r",
        "offered",
        "peer_spi",
        "rekey",
        "ts_i",
        "ts_r",
    )

    def __init__(self, sa: IkeSa, config: ChildConfig | None, rekey: ChildSa | None = None) -> None:
        super().__init__(sa)
        self.config = config
        self.rekey = rekey
        self.in_ike_auth = sa.state != IkeState.ESTABLISHED  # the first CHILD_SA rides on IKE_AUTH
        self.my_spi = 0
        self.peer_spi = 0
        self.offered: list[Proposal] = []
        self.chosen: Proposal | None = None
        self.ke: KeyExchange | None = None
        self.nonce_i = b""
        self.nonce_r = b""
        self.ts_i: list[TrafficSelector] = []
        self.ts_r: list[TrafficSelector] = []
        self.error: IkeProtocolError | None = None
        self.deferred: Message | None = None  # IKE_AUTH's first request, while EAP goes on (ike_eap)
        self._algs: ChildAlgs | None = None
        self._ke_public = b""
        self._shared = b""
        pfs = config.proposals[0].pfs if config and config.proposals else "none"
        self.group = registry.group(pfs).id if pfs != "none" else 0


    # -- initiator ---------------------------------------------------------------------------

    def build_i(self, out: list[Payload]) -> None:
        sa = self.sa
        cfg = self.config
        assert cfg is not None
        # decided now, not when queued: the CHILD_SAs of further policies are queued with IKE_AUTH,
        # before the IKE SA is up, yet go out as CREATE_CHILD_SA (with their own nonce and KE)
        self.in_ike_auth = sa.state != IkeState.ESTABLISHED
        if self.in_ike_auth and self.offered:
            return  # a later EAP round of IKE_AUTH: SA and TS went in the first request
        if not self.my_spi:
            self.my_spi = sa.spi_alloc(IpsecProto.ESP)
        spi = struct.pack("!I", self.my_spi)
        create = not self.in_ike_auth
        self.offered = child_proposals(cfg.proposals, spi, pfs=create)
        if create and self.group:  # the group we guess goes first (INVALID_KE may move it)
            for p in self.offered:
                dhs = [t for t in p.transforms if t.type == TransformType.DH]
                p.transforms = [t for t in p.transforms if t.type != TransformType.DH] + \
                    sorted(dhs, key=lambda t: t.id != self.group)
        if self.rekey is not None:
            out.append(NotifyPayload(NotifyType.REKEY_SA, protocol=ProtocolId.ESP,
                                     spi=struct.pack("!I", self.rekey.inbound.spi)))
        if cfg.mode == Mode.TRANSPORT:
            out.append(NotifyPayload(NotifyType.USE_TRANSPORT_MODE))
        local, remote = local_remote(cfg.selector)
        if sa.config.mode_config_request and self.in_ike_auth:
            local = to_ts(cfg.selector.src if cfg.selector.src.prefixlen == 0 else
                          cfg.selector.src.supernet(new_prefix=0), 0, 0)
        out.append(SaPayload(self.offered))
        if create:
            self.nonce_i = sa.rng(NONCE_SIZE)
            out.append(NoncePayload(self.nonce_i))
            if self.group:
                self.ke = new_ke(self.group, sa.rng)
                out.append(KePayload(DhGroup(self.group), self.ke.public_value()))
        self.ts_i, self.ts_r = [local], [remote]
        out += [TsPayload([local]), TsPayload([remote], initiator=False)]

    def _child_failed(self, notify: str, detail: str) -> None:
        self.sa.emit(NegotiationFailed(ExchangeType.IKE_AUTH.name if self.in_ike_auth else
                                       ExchangeType.CREATE_CHILD_SA.name, notify, detail, fatal=False))
        self.failed(notify)

    def process_i(self, msg: Message) -> Status:
        sa = self.sa
        cfg = self.config
        assert cfg is not None
        if sa.state != IkeState.ESTABLISHED:
            # EAP goes on (ike_eap): the responder answers SA and TS in the last round
            return NEED_MORE if sa.state == IkeState.CONNECTING else None
        invalid_ke = msg.notify(NotifyType.INVALID_KE_PAYLOAD)
        if invalid_ke is not None and not self.in_ike_auth and len(invalid_ke.data) == 2:
            wanted = struct.unpack("!H", invalid_ke.data)[0]
            offered = {t.id for p in self.offered for t in p.of_type(TransformType.DH)}
            if wanted in offered and wanted != self.group:
                self.group = wanted
                raise Retry
        err = next((n for n in msg.all(NotifyPayload) if n.type.is_error), None)
        if err is not None:
            hint = {
                NotifyType.NO_PROPOSAL_CHOSEN: "change the policy's proposal (enc-algorithms, "
                "auth-algorithms, pfs-group) to one the peer accepts",
                NotifyType.TS_UNACCEPTABLE: "the peer has no policy for these addresses: compare src-address/"
                "dst-address with the peer's policy",
            }.get(err.type, "")
            self._child_failed(
                err.type.name,
                f"peer refused CHILD_SA {_named(cfg)} (we offered "
                f"{describe(self.offered)}){'; ' + hint if hint else ''}",
            )
            return None
        sa_p = msg.get(SaPayload)
        tsi = next((p for p in msg.all(TsPayload) if p.initiator), None)
        tsr = next((p for p in msg.all(TsPayload) if not p.initiator), None)
        try:
            if sa_p is None or tsi is None or tsr is None or len(sa_p.proposals) != 1:
                raise UnknownAlgorithmError("response lacks SA or TS payloads")
            chosen = sa_p.proposals[0]
            ours = self.offered if not self.in_ike_auth else _without_ke(self.offered)
            if not proposal_contains(ours, chosen) or len(chosen.spi) != 4:
                raise UnknownAlgorithmError("the responder chose an ESP proposal we did not offer")
            algs = child_algs(chosen)
            if not sa.config.mode_config_request and not (
                all(is_within(t, self.ts_i) for t in tsi.selectors)
                and all(is_within(t, self.ts_r) for t in tsr.selectors)
            ):
                raise UnknownAlgorithmError("the responder widened the traffic selectors")
            if not tsi.selectors or not tsr.selectors:
                raise UnknownAlgorithmError("empty traffic selectors")
            to_selector(
                covering(tsi.selectors), covering(tsr.selectors)
            )  # has a policy form, or SelectorError
            shared = b""
            if not self.in_ike_auth:
                nonce = msg.get(NoncePayload)
                if nonce is None:
                    raise UnknownAlgorithmError("no nonce")
                self.nonce_r = nonce.data
                ke_p = msg.get(KePayload)
                if self.ke is not None:
                    if ke_p is None or algs.group is None or ke_p.group != self.group:
                        raise UnknownAlgorithmError("PFS key exchange missing or for another group")
                    shared = self.ke.compute_shared(ke_p.data)
        except (CryptoError, SelectorError) as e:
            self._child_failed("INVALID_SYNTAX", f"CHILD_SA {_named(cfg)}: {e}")
            return None
        self.peer_spi = struct.unpack("!I", chosen.spi)[0]
        self.ts_i, self.ts_r = tsi.selectors, tsr.selectors
        ni, nr = (sa.nonce_i, sa.nonce_r) if self.in_ike_auth else (self.nonce_i, self.nonce_r)
        self.install(algs, ni, nr, shared, initiator=True)
        return None

    # -- responder ---------------------------------------------------------------------------

    def _select_config(
        self, tsi: list[TrafficSelector], tsr: list[TrafficSelector]
    ) -> tuple[ChildConfig, list[TrafficSelector], list[TrafficSelector]]:
        sa = self.sa
        if self.rekey is not None:
            candidates: tuple[ChildConfig, ...] = (self.rekey.config,)
        else:
            candidates = sa.config.children
        for cfg in candidates:
            ours_local, ours_remote = local_remote(cfg.selector)
            if sa.lease is not None:
                ours_remote = host_ts(sa.lease.address)
            n_i = narrow(tsi, ours_remote)
            n_r = narrow(tsr, ours_local)
            if n_i and n_r:
                # narrowing drops a selector another contains, the packet's one first of all: put
                # it back in front so that covering() picks the range that holds the packet
                n_i, n_r = (
                    _packet_first(narrow(tsi[:1], ours_remote), n_i),
                    _packet_first(narrow(tsr[:1], ours_local), n_r),
                )
                try:
                    to_selector(covering(n_r), covering(n_i))
                except SelectorError:
                    continue
                return cfg, n_i, n_r
        shown = (
            ", ".join(f"{t.start}-{t.end}" for t in tsi)
            + " -> "
            + ", ".join(f"{t.start}-{t.end}" for t in tsr)
        )
        raise IkeProtocolError(
            NotifyType.TS_UNACCEPTABLE,
            f"from {sa.addr[1][0]}: no policy matches {shown}; add a policy with these"
            f" src-address/dst-address (or a template for generate-policy)",
        )

    def process_r(self, msg: Message) -> None:
        now, self.deferred = defer(self.sa, msg, self.deferred)
        if now is None:
            return
        try:
            self._process_r(now)
        except IkeProtocolError as e:
            if not self.in_ike_auth:
                raise
            self.error = e  # the IKE SA stands; the child is refused in the response (§1.2)
            self.sa.emit(NegotiationFailed(ExchangeType.IKE_AUTH.name, e.notify.name, e.detail, fatal=False))

    def _process_r(self, msg: Message) -> None:
        sa = self.sa
        sa_p = msg.get(SaPayload)
        if sa_p is None and self.in_ike_auth:
            return  # childless IKE_AUTH (RFC 6023)
        tsi = next((p for p in msg.all(TsPayload) if p.initiator), None)
        tsr = next((p for p in msg.all(TsPayload) if not p.initiator), None)
        if sa_p is None or tsi is None or tsr is None:
            raise IkeProtocolError(NotifyType.INVALID_SYNTAX, "CHILD_SA request without SA/TSi/TSr")
        rekey_n = msg.notify(NotifyType.REKEY_SA)
        if rekey_n is not None:
            old_spi = struct.unpack("!I", rekey_n.spi)[0] if len(rekey_n.spi) == 4 else -1
            self.rekey = next((c for c in sa.children.values() if c.outbound.spi == old_spi), None)
            if self.rekey is None:
                raise IkeProtocolError(
                    NotifyType.CHILD_SA_NOT_FOUND, f"rekey of unknown CHILD_SA {old_spi:#x}"
                )
            if self.rekey.deleting:  # §2.25.1: we are closing it
                raise IkeProtocolError(
                    NotifyType.TEMPORARY_FAILURE, f"CHILD_SA {old_spi:#x} is being deleted"
                )
        cfg, self.ts_i, self.ts_r = self._select_config(tsi.selectors, tsr.selectors)
        create = not self.in_ike_auth
        ours = child_proposals(cfg.proposals, b"", pfs=create)
        offered = [p for p in sa_p.proposals if len(p.spi) == 4]
        chosen = select(ours, offered if create else _without_ke(offered))
        if chosen is None:
            raise IkeProtocolError(
                NotifyType.NO_PROPOSAL_CHOSEN,
                f"CHILD_SA {_named(cfg)} from {sa.addr[1][0]}: {explain(sa_p.proposals, ours, esp=True)}",
            )
        algs = child_algs(chosen)
        self.config = cfg
        self.peer_spi = struct.unpack("!I", chosen.spi)[0]
        self.my_spi = sa.spi_alloc(IpsecProto.ESP)
        self.chosen = Proposal(
            chosen.number, chosen.protocol, struct.pack("!I", self.my_spi), chosen.transforms
        )
        self._algs = algs
        if create:
            nonce = msg.get(NoncePayload)
            assert nonce is not None  # rules
            self.nonce_i = nonce.data
            self.nonce_r = sa.rng(NONCE_SIZE)
            self._shared = b""
            if algs.group is not None:
                ke_p = msg.get(KePayload)
                if ke_p is None or ke_p.group != algs.group.id:
                    raise IkeProtocolError(
                        NotifyType.INVALID_KE_PAYLOAD,
                        "PFS KE for another group",
                        struct.pack("!H", algs.group.id),
                    )
                self.ke = new_ke(algs.group.id, sa.rng)
                try:
                    self._ke_public, self._shared = self.ke.respond(ke_p.data)
                except CryptoError as e:
                    raise IkeProtocolError(NotifyType.INVALID_SYNTAX, f"bad PFS KE: {e}") from None

    def build_r(self, out: list[Payload]) -> Status:
        sa = self.sa
        if sa.state == IkeState.CONNECTING:
            return NEED_MORE  # EAP goes on: answered in IKE_AUTH's last round
        if self.error is not None:
            out.append(NotifyPayload(self.error.notify, self.error.data))
            return None
        if self.chosen is None:
            return None
        assert self.config is not None
        if self.config.mode == Mode.TRANSPORT:
            out.append(NotifyPayload(NotifyType.USE_TRANSPORT_MODE))
        out.append(SaPayload([self.chosen]))
        if not self.in_ike_auth:
            out.append(NoncePayload(self.nonce_r))
            if self.ke is not None:
                out.append(KePayload(DhGroup(self.ke.group), self._ke_public))
        # exactly the one pair we install (covering): with every narrowed range in the reply, the
        # initiator would send traffic of ranges this SA does not carry
        out += [TsPayload([covering(self.ts_i)]), TsPayload([covering(self.ts_r)], initiator=False)]
        ni, nr = (sa.nonce_i, sa.nonce_r) if self.in_ike_auth else (self.nonce_i, self.nonce_r)
        assert self._algs is not None
        self.install(self._algs, ni, nr, self._shared if not self.in_ike_auth else b"", initiator=False)
        return None

    # -- both --------------------------------------------------------------------------------

    def install(self, algs: ChildAlgs, ni: bytes, nr: bytes, shared: bytes, *, initiator: bool) -> None:
        sa = self.sa
        cfg = self.config
        assert cfg is not None and sa.keys is not None and sa.algs is not None
        ek, ik = algs.encr.keymat_size, algs.integ.key_size if algs.integ else 0
        km = keymat.ikev2_child_keymat(sa.algs.prf, sa.keys.sk_d, ni, nr, 2 * (ek + ik), g_ir=shared or None)
        i_e, i_a, r_e, r_a = km[:ek], km[ek : ek + ik], km[ek + ik : 2 * ek + ik], km[2 * ek + ik :]
        out_e, out_a, in_e, in_a = (i_e, i_a, r_e, r_a) if initiator else (r_e, r_a, i_e, i_a)
        ts_i, ts_r = covering(self.ts_i), covering(self.ts_r)
        left_out = tuple(
            dict.fromkeys(
                f"{t.start}-{t.end}"
                for tss, chosen in ((self.ts_i, ts_i), (self.ts_r, ts_r))
                for t in tss
                if t is not chosen and not is_within(t, [chosen])
            )
        )
        local_ts, remote_ts = (ts_i, ts_r) if initiator else (ts_r, ts_i)
        out_sel, in_sel = sa_selectors(local_ts, remote_ts)
        (lhost, lport), (rhost, rport) = sa.addr
        encap = _encap(lport, rport) if (sa.nat_local or sa.nat_remote) else None
        life = _lifetime(cfg.lifetime)
        integ = algs.integ.name if algs.integ else "null"

        def spec(
            spi: int, direction: Direction, src: str, dst: str, ekey: bytes, akey: bytes, selector: Selector
        ) -> SaSpec:
            return SaSpec(
                spi,
                direction,
                IpsecProto.ESP,
                cfg.mode,
                parse_address(src),
                parse_address(dst),
                algs.encr.name,
                ekey,
                integ,
                akey,
                cfg.policy_id,
                selector,
                encap,
                algs.esn,
                lifetime=life,
                reqid=cfg.reqid,
            )

        inbound = spec(self.my_spi, Direction.IN, rhost, lhost, in_e, in_a, in_sel)
        outbound = spec(self.peer_spi, Direction.OUT, lhost, rhost, out_e, out_a, out_sel)
        now = sa.now
        child = ChildSa(
            cfg,
            inbound,
            outbound,
            algs,
            now,
            rekey_at=now + sa.rekey_after(cfg.lifetime, 0.85 if initiator else 0.9),
            expire_at=now + cfg.lifetime,
            # the nonces decide a rekey collision (§2.8.1); IKE_AUTH's are the IKE SA's,
            # which it drops once authenticated
            initiator=initiator,
            nonces=(b"", b"") if self.in_ike_auth else (ni, nr),
            replaces=self.rekey.inbound.spi if self.rekey is not None else None,
        )
        sa.children[self.my_spi] = child
        sa.emit(
            ChildSaInstalled(
                cfg.name,
                inbound,
                outbound,
                rekey_of=self.rekey.inbound.spi if self.rekey is not None else None,
                left_out=left_out,
            )
        )
        self.installed(child)

    def installed(self, child: ChildSa) -> None:
        """Hook for the rekey task: the new CHILD_SA is in place."""
