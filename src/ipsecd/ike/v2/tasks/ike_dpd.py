"""Liveness check (RFC 7296 §2.4): an empty INFORMATIONAL request when the peer was quiet for
``dpd-interval``. IKEv2 has no maximum-failures: the retransmission schedule decides when the peer
is dead (the task manager then emits PeerDead and closes the SA)."""

from __future__ import annotations

from .base import Task


class IkeDpd(Task):
    __slots__ = ()
