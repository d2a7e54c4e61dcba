"""The IKEv2 SA's states and the one table of transitions between them (RFC 7296 §1, §2.18, §1.4.1).

    CONNECTING ──authenticated──► ESTABLISHED ──delete-sent──► DELETING
        │                          │  ▲  generation-switched       │
        │                          └──┘  (a rekeyed IKE SA, §2.18) │
        └──────────── closed ──────┴───────────► CLOSED ◄──closed──┘

``CONNECTING`` covers IKE_SA_INIT and IKE_AUTH (every round of it, EAP included); the rekeyed
generation taking over keeps the SA ``ESTABLISHED`` (or ``DELETING``: our own DELETE is under way
and wins); ``CLOSED`` takes nothing. Any other pair is a bug in the caller, raised as
:class:`IkeStateError` before anything changes (as h11 does for HTTP/1.1), and a hypothesis stateful
test drives both this table and a real pair of SAs through it. The states are ``StrEnum`` members:
``state == "established"`` still reads naturally in logs and tests.
"""

from __future__ import annotations

from enum import StrEnum


class IkeState(StrEnum):
    CONNECTING = "connecting"
    ESTABLISHED = "established"
    DELETING = "deleting"
    CLOSED = "closed"


class Trigger(StrEnum):
    AUTHENTICATED = "authenticated"  # IKE_AUTH completed, both identities verified
    DELETE_SENT = "delete-sent"  # our INFORMATIONAL DELETE of the IKE SA went out (§1.4.1)
    GENERATION_SWITCHED = "generation-switched"  # the IKE SA rekey's new SA took over (§2.18)
    CLOSED = "closed"  # deleted, refused, failed or timed out: the SA is gone


TRANSITIONS: dict[tuple[IkeState, Trigger], IkeState] = {
    (IkeState.CONNECTING, Trigger.AUTHENTICATED): IkeState.ESTABLISHED,
    (IkeState.CONNECTING, Trigger.CLOSED): IkeState.CLOSED,
    (IkeState.ESTABLISHED, Trigger.DELETE_SENT): IkeState.DELETING,
    (IkeState.ESTABLISHED, Trigger.GENERATION_SWITCHED): IkeState.ESTABLISHED,
    (IkeState.ESTABLISHED, Trigger.CLOSED): IkeState.CLOSED,
    (IkeState.DELETING, Trigger.DELETE_SENT): IkeState.DELETING,  # the request rebuilt (never after a reply)
    (IkeState.DELETING, Trigger.GENERATION_SWITCHED): IkeState.DELETING,
    (IkeState.DELETING, Trigger.CLOSED): IkeState.CLOSED,
}


class IkeStateError(Exception):
    """A transition the table does not have: a bug in the caller, never the peer's doing."""


def transition(state: IkeState, trigger: Trigger) -> IkeState:
    try:
        return TRANSITIONS[state, trigger]
    except KeyError:
        raise IkeStateError(f"IKE SA in state {state}: no transition on {trigger}") from None
