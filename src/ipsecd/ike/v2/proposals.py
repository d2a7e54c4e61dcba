"""Building, choosing and explaining SA proposals (RFC 7296 §2.7, §3.3).

* Proposals come from the profile (IKE: enc × hash/prf × dh) or the policy's proposal (ESP:
  enc-algorithms × auth-algorithms, pfs-group). AEAD ciphers go in a proposal of their own without
  an INTEG transform, the others in another (§3.3); every ESP proposal carries ESN "no ESN".
* The responder chooses by its *own* preference order: its proposals first, within each the first
  of its transforms the peer offered; the peer's proposal must offer exactly the same transform types.
* :func:`explain` is the operator's view of a failure: what the peer offered and what we accept,
  transform type by transform type, and the RouterOS property to change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from ipsecd.crypto import registry
from ipsecd.crypto.errors import UnknownAlgorithmError
from ipsecd.crypto.registry import EncrAlg, Group, IntegAlg, PrfAlg
from ipsecd.wire.enums import EsnId, ProtocolId, TransformType
from ipsecd.wire.ikev2.payloads.sa import Proposal, Transform

from .config import ChildProposal, IkeProposal


@dataclass(frozen=True, slots=True)
class IkeAlgs:
    encr: EncrAlg
    integ: IntegAlg | None  # None with AEAD
    prf: PrfAlg
    group: Group


@dataclass(frozen=True, slots=True)
class ChildAlgs:
    encr: EncrAlg
    integ: IntegAlg | None
    group: Group | None  # PFS group of a CREATE_CHILD_SA, None in IKE_AUTH or without PFS
    esn: bool = False


def _encr(alg: EncrAlg) -> Transform:
    return Transform(TransformType.ENCR, alg.ikev2_id, alg.key_bits if alg.ikev2_key_attr else None)


def _group(name: str) -> Transform:
    return Transform(TransformType.DH, registry.group(name).id)


def _split_aead(names: Iterable[str]) -> tuple[list[EncrAlg], list[EncrAlg], bool]:
    """(AEAD ciphers, the others, whether an AEAD cipher is preferred, i.e. listed first)."""
    algs = [registry.encr(n) for n in names]
    return [a for a in algs if a.aead], [a for a in algs if not a.aead], bool(algs) and algs[0].aead


# The configuration is frozen and every IKE SA of a peer builds and parses the same proposals, so
# what depends on the configuration or on transforms alone is computed once (functools caches):
# registry look-ups, the transform lists of our proposals, the algorithms of a chosen proposal.
_CACHE = 1024


@lru_cache(maxsize=_CACHE)
def _ike_transforms(config: tuple[IkeProposal, ...]) -> tuple[tuple[Transform, ...], ...]:
    out: list[tuple[Transform, ...]] = []
    for p in config:
        aead, plain, aead_first = _split_aead(p.encr)
        prfs = [Transform(TransformType.PRF, registry.prf(n).ikev2_id) for n in p.prf]
        dhs = [_group(n) for n in p.dh]
        integs = [Transform(TransformType.INTEG, registry.integ(n).ikev2_id) for n in p.integ]
        pair = [(*map(_encr, plain), *prfs, *integs, *dhs) if plain else (),
                (*map(_encr, aead), *prfs, *dhs) if aead else ()]
        out += [t for t in (pair[::-1] if aead_first else pair) if t]
    return tuple(out)


def ike_proposals(config: Sequence[IkeProposal], spi: bytes = b"") -> list[Proposal]:
    """SA payload proposals of an IKE SA (``spi`` is empty in IKE_SA_INIT, 8 bytes when rekeying)."""
    return [
        Proposal(n, ProtocolId.IKE, spi, list(t)) for n, t in enumerate(_ike_transforms(tuple(config)), 1)
    ]


@lru_cache(maxsize=_CACHE)
def _child_transforms(config: tuple[ChildProposal, ...], pfs: bool) -> tuple[tuple[Transform, ...], ...]:
    out: list[tuple[Transform, ...]] = []
    no_esn = Transform(TransformType.ESN, EsnId.NO_ESN)
    for p in config:
        aead, plain, aead_first = _split_aead(p.encr)
        dhs = [_group(p.pfs)] if pfs and p.pfs != "none" else []
        integs = [Transform(TransformType.INTEG, registry.integ(n).ikev2_id) for n in p.integ if n != "null"]
        pair = [
            (*map(_encr, plain), *integs, *dhs, no_esn) if plain else (),
            (*map(_encr, aead), *dhs, no_esn) if aead else (),
        ]
        out += [t for t in (pair[::-1] if aead_first else pair) if t]
    return tuple(out)


def child_proposals(config: Sequence[ChildProposal], spi: bytes, pfs: bool) -> list[Proposal]:
    """ESP proposals; ``pfs`` adds the pfs-group as a DH transform (CREATE_CHILD_SA only)."""
    return [
        Proposal(n, ProtocolId.ESP, spi, list(t))
        for n, t in enumerate(_child_transforms(tuple(config), pfs), 1)
    ]


@lru_cache(maxsize=_CACHE)
def _select(mine: tuple[Transform, ...], offered: tuple[Transform, ...]) -> tuple[Transform, ...] | None:
    """One transform per type of ``mine``, by our order, from what the peer ``offered``; None when
    the peer's proposal has other transform types or lacks one of ours."""
    my_types = {t.type for t in mine}
    if {t.type for t in offered} != my_types:
        return None
    chosen: list[Transform] = []
    for ttype in sorted(my_types):
        pick = next((t for t in mine if t.type == ttype and t in offered), None)
        if pick is None:
            return None
        chosen.append(pick)
    return tuple(chosen)


def select(ours: Sequence[Proposal], theirs: Sequence[Proposal]) -> Proposal | None:
    """The proposal to answer with (the peer's number and SPI, one transform per type), or None."""
    offers = [(peer, tuple(peer.transforms)) for peer in theirs]
    for mine in ours:
        my_transforms = tuple(mine.transforms)
        for peer, offered in offers:
            if peer.protocol == mine.protocol and (chosen := _select(my_transforms, offered)) is not None:
                return Proposal(peer.number, peer.protocol, peer.spi, list(chosen))
    return None


@lru_cache(maxsize=_CACHE)
def _lookup(t: Transform) -> registry.Transform:
    return registry.by_ikev2(int(t.type), t.id, t.key_length)


def ike_algs(p: Proposal) -> IkeAlgs:
    """Registry rows of a chosen IKE proposal; UnknownAlgorithmError if it is not one we offered."""
    return _ike_algs(tuple(p.transforms))


@lru_cache(maxsize=_CACHE)
def _ike_algs(transforms: tuple[Transform, ...]) -> IkeAlgs:
    found = {t.type: _lookup(t) for t in transforms}
    encr, prf, group = (
        found.get(TransformType.ENCR),
        found.get(TransformType.PRF),
        found.get(TransformType.DH),
    )
    integ = found.get(TransformType.INTEG)
    if not isinstance(encr, EncrAlg) or not isinstance(prf, PrfAlg) or not isinstance(group, Group):
        raise UnknownAlgorithmError("IKE proposal lacks ENCR, PRF or DH")
    if not encr.aead and not isinstance(integ, IntegAlg):
        raise UnknownAlgorithmError(f"IKE proposal with {encr.name} lacks INTEG")
    return IkeAlgs(encr, integ if isinstance(integ, IntegAlg) and not encr.aead else None, prf, group)


def child_algs(p: Proposal) -> ChildAlgs:
    return _child_algs(tuple(p.transforms))


@lru_cache(maxsize=_CACHE)
def _child_algs(transforms: tuple[Transform, ...]) -> ChildAlgs:
    found = {t.type: _lookup(t) for t in transforms}
    encr, integ, group = (
        found.get(TransformType.ENCR),
        found.get(TransformType.INTEG),
        found.get(TransformType.DH),
    )
    esn = found.get(TransformType.ESN)
    if not isinstance(encr, EncrAlg):
        raise UnknownAlgorithmError("ESP proposal lacks ENCR")
    return ChildAlgs(
        encr,
        integ if isinstance(integ, IntegAlg) and integ.name != "null" else None,
        group if isinstance(group, Group) else None,
        esn is not None and getattr(esn, "ikev2_id", 0) == EsnId.ESN,
    )


def proposal_contains(offered: Sequence[Proposal], chosen: Proposal) -> bool:
    """Whether a responder's choice is one of the proposals we sent (§2.7: else it is invalid)."""
    for p in offered:
        if p.number == chosen.number and p.protocol == chosen.protocol:
            return all(t in p.transforms for t in chosen.transforms) and {
                t.type for t in chosen.transforms
            } == {t.type for t in p.transforms}
    return False


_TYPE_NAMES = {
    TransformType.ENCR: "ENCR",
    TransformType.PRF: "PRF",
    TransformType.INTEG: "INTEG",
    TransformType.DH: "DH",
    TransformType.ESN: "ESN",
}
_IKE_PROPERTY = {
    TransformType.ENCR: "profile enc-algorithm",
    TransformType.PRF: "profile prf-algorithm/hash-algorithm",
    TransformType.INTEG: "profile hash-algorithm",
    TransformType.DH: "profile dh-group",
}
_ESP_PROPERTY = {
    TransformType.ENCR: "proposal enc-algorithms",
    TransformType.INTEG: "proposal auth-algorithms",
    TransformType.DH: "proposal pfs-group",
    TransformType.ESN: "ESN (only 'no ESN' is supported)",
}


def transform_name(t: Transform) -> str:
    try:
        return _lookup(t).name
    except UnknownAlgorithmError:
        suffix = f"/{t.key_length}" if t.key_length else ""
        return f"#{t.id}{suffix}"


def _by_type(proposals: Sequence[Proposal]) -> dict[TransformType, list[str]]:
    out: dict[TransformType, list[str]] = {}
    for p in proposals:
        for t in p.transforms:
            names = out.setdefault(t.type, [])
            name = transform_name(t)
            if name not in names:
                names.append(name)
    return out


def describe(proposals: Sequence[Proposal]) -> str:
    """``ENCR [..]; INTEG [..]; …``: what an offer holds, type by type (an initiator's log line)."""
    return "; ".join(
        f"{_TYPE_NAMES.get(ttype, str(int(ttype)))} [{','.join(names)}]"
        for ttype, names in sorted(_by_type(proposals).items())
    )


def explain(offered: Sequence[Proposal], accepted: Sequence[Proposal], esp: bool) -> str:
    """``ENCR offered [..] accepted [..]; …; change <property>`` naming the types with no overlap."""
    peer, mine = _by_type(offered), _by_type(accepted)
    parts, fix = [], []
    props = _ESP_PROPERTY if esp else _IKE_PROPERTY
    for ttype in sorted(set(peer) | set(mine)):
        theirs, ours = peer.get(ttype, []), mine.get(ttype, [])
        parts.append(
            f"{_TYPE_NAMES.get(ttype, str(int(ttype)))} offered [{','.join(theirs) or '-'}]"
            f" accepted [{','.join(ours) or '-'}]"
        )
        if not set(theirs) & set(ours):
            fix.append(props.get(ttype, f"transform type {int(ttype)}"))
    advice = f"; change {' and '.join(fix)} to match" if fix else "; no single proposal matches in full"
    return "; ".join(parts) + advice
