"""Data-plane errors, each mapping to exactly one ``/ip ipsec statistics`` counter.

DESIGN.md §3: every way a packet can fail in the data plane raises one specific exception whose class
attribute :attr:`DataplaneError.counter` names the one counter of :class:`ipsecd.dataplane.stats.Statistics`
(the RouterOS name with ``-`` as ``_``) it increments. The packet loop catches :class:`DataplaneError`,
calls ``stats.count(err)`` and drops the packet; nothing else escapes ``EspSa.open``/``AhSa.open``.

The counters are Linux's XFRM MIB (``/proc/net/xfrm_stat``) under RouterOS names, and the causes follow
the kernel's use of them (``net/xfrm/xfrm_input.c``, ``xfrm_output.c``, ``xfrm_policy.c``) so the numbers
mean on ipsecd what they mean on a router.
"""

from __future__ import annotations

from typing import ClassVar


class DataplaneError(Exception):
    """Base of every data-plane packet error. ``counter`` is the statistics slot it increments."""

    counter: ClassVar[str] = "in_errors"


class ConfigError(Exception):
    """An SA specification the data plane cannot install (not a packet error: counted nowhere)."""


class BackendFailed(Exception):
    """The backend can no longer move packets and could not repair itself (a data-plane worker died
    and could not be replaced). One line for the operator; the daemon exits non-zero on it so that
    its supervisor restarts it (issue 17, finding 2)."""


# --- inbound -----------------------------------------------------------------------------------------


class InError(DataplaneError):
    """Inbound error no more specific counter covers (``in-errors``): e.g. a backend that cannot deliver
    a decapsulated packet (TUN write refused)."""

    counter = "in_errors"


class InHeaderError(DataplaneError):
    """Outer IP/UDP/ESP/AH header truncated or inconsistent before any SA is involved."""

    counter = "in_header_errors"


class NoStateError(DataplaneError):
    """No inbound SA for (destination, SPI, protocol)."""

    counter = "in_no_states"


class StateProtocolError(DataplaneError):
    """Transform failure on a known SA: bad ICV, bad padding, ciphertext of impossible length."""

    counter = "in_state_protocol_errors"


class StateModeError(DataplaneError):
    """Decapsulated content does not fit the SA's mode (tunnel payload not an IP packet …)."""

    counter = "in_state_mode_errors"


class ReplayError(DataplaneError):
    """Sequence number replayed, zero, or left of the anti-replay window (RFC 4303 §3.4.3)."""

    counter = "in_state_sequence_errors"


class StateExpiredError(DataplaneError):
    """Packet for an SA past its hard lifetime."""

    counter = "in_state_expired"


class StateMismatchError(DataplaneError):
    """Packet arrived with the wrong encapsulation for its SA (ESP-in-UDP on a raw SA or vice versa)."""

    counter = "in_state_mismatches"


class StateInvalidError(DataplaneError):
    """Packet for an SA that is not usable (larval: keys not yet installed)."""

    counter = "in_state_invalid"


class TemplateMismatchError(DataplaneError):
    """Decapsulated packet's policy does not accept the SA it came through."""

    counter = "in_template_mismatches"


class InNoPolicyError(DataplaneError):
    """Decapsulated packet matches no inbound policy that requires IPsec."""

    counter = "in_no_policies"


class InPolicyBlockedError(DataplaneError):
    """Inbound packet matched a discard policy."""

    counter = "in_policy_blocked"


# --- outbound ----------------------------------------------------------------------------------------


class OutError(DataplaneError):
    """Outbound error no more specific counter covers (``out-errors``): e.g. packet too large."""

    counter = "out_errors"


class OutNoStateError(DataplaneError):
    """Encrypt policy matched but no outbound SA exists (an Acquire follows for require/unique)."""

    counter = "out_no_states"


class OutStateProtocolError(DataplaneError):
    """The transform itself failed while sealing."""

    counter = "out_state_protocol_errors"


class OutStateModeError(DataplaneError):
    """Packet to seal is not a well-formed IP packet of a family the SA's mode can carry."""

    counter = "out_state_mode_errors"


class SequenceOverflowError(DataplaneError):
    """Outbound sequence number space exhausted (RFC 4303 §3.3.3: the SA must be rekeyed)."""

    counter = "out_state_sequence_errors"


class OutStateExpiredError(DataplaneError):
    """Sealing on an SA past its hard lifetime."""

    counter = "out_state_expired"


class OutPolicyBlockedError(DataplaneError):
    """Outbound packet matched a discard policy (or a require policy with no SA)."""

    counter = "out_policy_blocked"
