"""IKEv1 proposals: the SA payloads we offer and the choice a responder makes (RFC 2409 §5, App. A;
RFC 2407 §4.5), with the manual's ``proposal-check`` lifetime rules.

Phase 1 is one ISAKMP proposal whose transforms are every profile combination (encryption ×
hash × group), all with pre-shared key authentication. Phase 2 puts each ``/ip ipsec proposal`` in
a proposal of its own (different numbers: alternatives), one transform per encryption ×
authentication pair, carrying the PFS group, encapsulation mode and lifetimes as attributes.
A refusal explains, per offered transform, the first attribute that differed and which RouterOS
property to change, as the IKEv2 core does.
"""

from __future__ import annotations

from dataclasses import dataclass

from ipsecd.crypto import registry
from ipsecd.crypto.errors import UnknownAlgorithmError
from ipsecd.crypto.registry import EncrAlg, Group, HashAlg, IntegAlg
from ipsecd.policy.types import IpsecProto, Mode
from ipsecd.wire.ikev1.attributes import Attribute
from ipsecd.wire.ikev1.enums import (
    KEY_IKE,
    AuthMethod,
    EncapMode,
    IpsecAttr,
    LifeType,
    NotifyType,
    OakleyAttr,
    ProtocolId,
)
from ipsecd.wire.ikev1.sa import Proposal, SaPayload, Transform

from ..v2.config import ChildConfig, IkeConfig
from . import sigauth
from .config import Ikev1Options, ProposalCheck, V1ProtocolError


@dataclass(frozen=True, slots=True)
class Phase1Algs:
    encr: EncrAlg
    hash: HashAlg
    group: Group
    lifetime: float
    lifebytes: int = 0


@dataclass(frozen=True, slots=True)
class Phase2Algs:
    proto: IpsecProto
    encr: EncrAlg | None  # None for AH
    integ: IntegAlg | None  # None for AEAD
    pfs: Group | None
    mode: Mode
    lifetime: float
    lifebytes: int = 0


def _life_attrs(life_type: int, duration: int, seconds: float, kbytes: int) -> list[Attribute]:
    out = [Attribute(life_type, LifeType.SECONDS), Attribute(duration, int(seconds))] if seconds else []
    if kbytes:
        out += [Attribute(life_type, LifeType.KILOBYTES), Attribute(duration, kbytes)]
    return out


def _lifetimes(t: Transform, life_type: int, duration: int) -> tuple[float, int]:
    """(seconds, kilobytes) of a transform's life type/duration pairs (RFC 2407 §4.5: type first)."""
    seconds, kbytes, kind = 0.0, 0, None
    for a in t.attributes:
        if a.type == life_type:
            kind = a.number
        elif a.type == duration:
            if kind == LifeType.SECONDS:
                seconds = float(a.number)
            elif kind == LifeType.KILOBYTES:
                kbytes = a.number
    return seconds, kbytes


# -- phase 1 --------------------------------------------------------------------------------------

def phase1_candidates(config: IkeConfig, options: Ikev1Options) -> list[Phase1Algs]:
    out = []
    for p in config.proposals:
        for e in p.encr:
            for h in p.integ:
                for g in p.dh:
                    out.append(Phase1Algs(registry.encr(e), registry.hash_alg(h), registry.group(g),
                                          config.lifetime, options.lifebytes))
    return out


def phase1_offer(config: IkeConfig, options: Ikev1Options) -> SaPayload:
    transforms = []
    for n, algs in enumerate(phase1_candidates(config, options), 1):
        assert algs.encr.oakley_id is not None
        attrs = [Attribute(OakleyAttr.ENCRYPTION_ALGORITHM, algs.encr.oakley_id)]
        if algs.encr.ikev2_key_attr:
            attrs.append(Attribute(OakleyAttr.KEY_LENGTH, algs.encr.key_bits))
        attrs += [Attribute(OakleyAttr.HASH_ALGORITHM, algs.hash.oakley_id),
                  Attribute(OakleyAttr.AUTHENTICATION_METHOD, sigauth.phase1_auth(config, options)),
                  Attribute(OakleyAttr.GROUP_DESCRIPTION, algs.group.id)]
        attrs += _life_attrs(OakleyAttr.LIFE_TYPE, OakleyAttr.LIFE_DURATION, algs.lifetime, algs.lifebytes)
        transforms.append(Transform(n, KEY_IKE, attrs))
    return SaPayload([Proposal(1, ProtocolId.ISAKMP, b"", transforms)])


def parse_phase1(t: Transform, auth_method: AuthMethod = AuthMethod.PRE_SHARED_KEY) -> Phase1Algs:
    """The algorithms of one phase-1 transform, whose authentication method must be ours
    (``Ikev1Options.phase1_auth``); UnknownAlgorithmError names what is not known."""
    values = {a.type: a for a in t.attributes}

    def number(kind: OakleyAttr) -> int | None:
        a = values.get(kind)
        return None if a is None else a.number

    enc, hsh, grp = (number(OakleyAttr.ENCRYPTION_ALGORITHM), number(OakleyAttr.HASH_ALGORITHM),
                     number(OakleyAttr.GROUP_DESCRIPTION))
    if enc is None or hsh is None or grp is None:
        raise UnknownAlgorithmError("transform lacks encryption, hash or group description")
    auth = number(OakleyAttr.AUTHENTICATION_METHOD)
    if auth != auth_method:
        raise UnknownAlgorithmError(
            f"authentication method {AuthMethod(auth or 0).name}, we use {auth_method.name}"
            " (the identity's auth-method)"
        )
    seconds, kbytes = _lifetimes(t, OakleyAttr.LIFE_TYPE, OakleyAttr.LIFE_DURATION)
    return Phase1Algs(
        registry.by_oakley_encr(enc, number(OakleyAttr.KEY_LENGTH)),
        registry.by_oakley_hash(hsh),
        registry.group_by_id(grp),
        seconds,
        kbytes,
    )


def _check_lifetime(theirs: float, ours: float, check: ProposalCheck, what: str) -> float:
    """The lifetime to use under ``proposal-check``, or raise naming the rule that refused it."""
    if check is ProposalCheck.OBEY or not ours:
        return theirs or ours
    if check is ProposalCheck.CLAIM:
        return min(theirs, ours) if theirs else ours
    if check is ProposalCheck.STRICT and theirs and theirs <= ours:
        return theirs
    if check is ProposalCheck.EXACT and theirs == ours:
        return theirs
    raise UnknownAlgorithmError(f"{what} lifetime {theirs:g}s against ours {ours:g}s refused by"
                                f" proposal-check={check.value}")


def select_phase1(offer: SaPayload, config: IkeConfig, options: Ikev1Options) -> tuple[Transform, Phase1Algs]:
    """The first offered transform we accept (the initiator's order), or NO-PROPOSAL-CHOSEN explained."""
    ours = phase1_candidates(config, options)
    reasons = []
    for prop in offer.proposals:
        if prop.protocol != ProtocolId.ISAKMP:
            continue
        for t in prop.transforms:
            try:
                algs = parse_phase1(t, sigauth.phase1_auth(config, options))
                if not any(
                    algs.encr == o.encr and algs.hash == o.hash and algs.group == o.group for o in ours
                ):
                    raise UnknownAlgorithmError(_phase1_diff(algs, ours))
                life = _check_lifetime(algs.lifetime, config.lifetime, options.proposal_check, "phase-1")
            except UnknownAlgorithmError as e:
                reasons.append(f"transform {t.number}: {e}")
                continue
            return t, Phase1Algs(algs.encr, algs.hash, algs.group, life, algs.lifebytes)
    raise V1ProtocolError(NotifyType.NO_PROPOSAL_CHOSEN, "no phase-1 proposal chosen: " + "; ".join(reasons)
                          + " (change the profile's enc-algorithm, hash-algorithm, dh-group or lifetime)")


def _phase1_diff(algs: Phase1Algs, ours: list[Phase1Algs]) -> str:
    if not any(o.encr == algs.encr for o in ours):
        return f"enc-algorithm {algs.encr.profile_name or algs.encr.name} not in the profile"
    if not any(o.hash == algs.hash for o in ours):
        return f"hash-algorithm {algs.hash.name} not in the profile"
    return f"dh-group {algs.group.name} not in the profile"


# -- phase 2 --------------------------------------------------------------------------------------

def encap_mode(mode: Mode, natt: bool, draft: bool) -> int:
    """The encapsulation mode attribute: RFC 3947 §5.1 values 3/4, the drafts' 61443/61444."""
    if not natt:
        return EncapMode.TUNNEL if mode == Mode.TUNNEL else EncapMode.TRANSPORT
    if draft:
        return EncapMode.UDP_TUNNEL_DRAFT if mode == Mode.TUNNEL else EncapMode.UDP_TRANSPORT_DRAFT
    return EncapMode.UDP_TUNNEL if mode == Mode.TUNNEL else EncapMode.UDP_TRANSPORT


def _mode_of(value: int) -> Mode:
    if value in (EncapMode.TUNNEL, EncapMode.UDP_TUNNEL, EncapMode.UDP_TUNNEL_DRAFT):
        return Mode.TUNNEL
    if value in (EncapMode.TRANSPORT, EncapMode.UDP_TRANSPORT, EncapMode.UDP_TRANSPORT_DRAFT):
        return Mode.TRANSPORT
    raise UnknownAlgorithmError(f"encapsulation mode {value}")


def phase2_candidates(child: ChildConfig, options: Ikev1Options) -> list[list[Phase2Algs]]:
    """Per ``/ip ipsec proposal``, the acceptable combinations (AH when the policy says so)."""
    out = []
    for cp in child.proposals:
        pfs = registry.pfs_group(cp.pfs)
        combos = []
        if child.name in options.ah:
            for i in cp.integ:
                combos.append(
                    Phase2Algs(IpsecProto.AH, None, registry.integ(i), pfs, child.mode, child.lifetime)
                )
        else:
            for e in cp.encr:
                encr = registry.encr(e)
                integs: tuple[str | None, ...] = (None,) if encr.aead else cp.integ
                for name in integs:
                    integ = registry.integ(name) if name is not None else None
                    combos.append(Phase2Algs(IpsecProto.ESP, encr, integ, pfs, child.mode, child.lifetime))
        out.append(combos)
    return out


def phase2_transform(n: int, algs: Phase2Algs, natt: bool, draft: bool) -> Transform:
    attrs = []
    if algs.pfs is not None:
        attrs.append(Attribute(IpsecAttr.GROUP_DESCRIPTION, algs.pfs.id))
    attrs.append(Attribute(IpsecAttr.ENCAPSULATION_MODE, encap_mode(algs.mode, natt, draft)))
    if algs.integ is not None:
        assert algs.integ.auth_attr_id is not None
        attrs.append(Attribute(IpsecAttr.AUTHENTICATION_ALGORITHM, algs.integ.auth_attr_id))
    if algs.encr is not None and algs.encr.ikev2_key_attr:
        attrs.append(Attribute(IpsecAttr.KEY_LENGTH, algs.encr.key_bits))
    attrs += _life_attrs(IpsecAttr.SA_LIFE_TYPE, IpsecAttr.SA_LIFE_DURATION, algs.lifetime, algs.lifebytes)
    if algs.proto == IpsecProto.AH:
        assert algs.integ is not None and algs.integ.ah_id is not None
        return Transform(n, algs.integ.ah_id, attrs)
    assert algs.encr is not None and algs.encr.esp_id is not None
    return Transform(n, algs.encr.esp_id, attrs)


def phase2_offer(child: ChildConfig, options: Ikev1Options, spi: bytes, natt: bool, draft: bool) -> SaPayload:
    """Every proposal of the policy whose PFS group is the first one's: a quick mode carries one KE
    (RFC 2409 §5.5), and a peer that picks a transform of another group cannot use it (strongSwan:
    "unable to apply received KE value")."""
    candidates = phase2_candidates(child, options)
    pfs = next((c[0].pfs for c in candidates if c), None)
    proposals = []
    for n, combos in enumerate(candidates, 1):
        combos = [c for c in combos if c.pfs == pfs]
        if not combos:
            continue
        proto = ProtocolId.AH if combos[0].proto == IpsecProto.AH else ProtocolId.ESP
        proposals.append(Proposal(n, proto, spi, [phase2_transform(k, a, natt, draft)
                                                  for k, a in enumerate(combos, 1)]))
    return SaPayload(proposals)


def parse_phase2(protocol: ProtocolId, t: Transform) -> Phase2Algs:
    values = {a.type: a.number for a in t.attributes if a.type != IpsecAttr.SA_LIFE_DURATION}
    seconds, kbytes = _lifetimes(t, IpsecAttr.SA_LIFE_TYPE, IpsecAttr.SA_LIFE_DURATION)
    group = values.get(IpsecAttr.GROUP_DESCRIPTION)
    pfs = registry.group_by_id(group) if group else None
    auth = values.get(IpsecAttr.AUTHENTICATION_ALGORITHM)
    mode = _mode_of(values.get(IpsecAttr.ENCAPSULATION_MODE, EncapMode.TUNNEL))
    if protocol == ProtocolId.AH:
        return Phase2Algs(IpsecProto.AH, None, registry.by_ah_id(t.transform_id), pfs, mode, seconds, kbytes)
    if protocol != ProtocolId.ESP:
        raise UnknownAlgorithmError(f"protocol {protocol.name}")
    encr = registry.by_esp_id(t.transform_id, values.get(IpsecAttr.KEY_LENGTH))
    integ = registry.by_auth_attr(auth) if auth else None
    if integ is None and not encr.aead:
        raise UnknownAlgorithmError(f"{encr.name} without an authentication algorithm")
    return Phase2Algs(IpsecProto.ESP, encr, integ, pfs, mode, seconds, kbytes)


def select_phase2(offer: SaPayload, child: ChildConfig, options: Ikev1Options) -> tuple[Proposal, Phase2Algs]:
    """The first offered proposal (one protocol; bundles are refused) with a transform we accept."""
    ours = [a for combos in phase2_candidates(child, options) for a in combos]
    reasons = []
    numbers = [p.number for p in offer.proposals]
    for prop in offer.proposals:
        if numbers.count(prop.number) > 1:
            reasons.append(f"proposal {prop.number}: AH+ESP bundles are not supported")
            continue
        for t in prop.transforms:
            try:
                algs = parse_phase2(prop.protocol, t)
                match = next((o for o in ours if (o.proto, o.encr, o.integ, o.pfs) ==
                              (algs.proto, algs.encr, algs.integ, algs.pfs)), None)
                if match is None:
                    raise UnknownAlgorithmError(_phase2_diff(algs, ours))
                if algs.mode != child.mode:
                    raise UnknownAlgorithmError(f"mode {algs.mode.value}, the policy says {child.mode.value}")
                life = _check_lifetime(algs.lifetime, child.lifetime, options.proposal_check, "phase-2")
            except UnknownAlgorithmError as e:
                reasons.append(f"proposal {prop.number} transform {t.number}: {e}")
                continue
            chosen = Proposal(prop.number, prop.protocol, prop.spi, [t])
            return chosen, Phase2Algs(
                algs.proto, algs.encr, algs.integ, algs.pfs, algs.mode, life, algs.lifebytes
            )
    raise V1ProtocolError(
        NotifyType.NO_PROPOSAL_CHOSEN,
        f"no quick-mode proposal chosen for {child.name}: " + "; ".join(reasons),
        fatal=False,
    )


def _phase2_diff(algs: Phase2Algs, ours: list[Phase2Algs]) -> str:
    if not any(o.proto == algs.proto for o in ours):
        return f"protocol {algs.proto.name} not the policy's ipsec-protocols"
    if not any(o.encr == algs.encr for o in ours):
        return f"enc-algorithm {algs.encr.name if algs.encr else 'none'} not in the proposal's enc-algorithms"
    if not any(o.integ == algs.integ for o in ours):
        integ = algs.integ.name if algs.integ else "none"
        return f"auth-algorithm {integ} not in the proposal's auth-algorithms"
    return f"pfs-group {algs.pfs.name if algs.pfs else 'none'} differs from the proposal's pfs-group"
