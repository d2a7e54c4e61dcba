"""Exceptions of the policy layer (SPD, SAD, selectors, templates, pools).

Every message is one line naming the object and what was wrong, so the management layer can refuse a
command with it unchanged. None of these is a packet error: packets never raise here, lookups return
``None`` or a verdict instead.
"""

from __future__ import annotations


class PolicyError(Exception):
    """Base of every error the policy layer raises."""


class SelectorError(PolicyError):
    """A selector or traffic selector of impossible shape (mixed families, bad range, bad port)."""


class SpdError(PolicyError):
    """An SPD change that cannot be applied (duplicate or unknown policy id, unusable selector)."""


class SadError(PolicyError):
    """A SAD change that cannot be applied (SPI in use or reserved, unknown SA)."""


class PoolError(PolicyError):
    """An address pool that cannot be parsed, or a request it cannot satisfy."""


class PoolExhaustedError(PoolError):
    """Every address of the pool is leased."""
