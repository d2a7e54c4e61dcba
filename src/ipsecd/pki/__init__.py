"""Certificates for IKE (issue 12): the RouterOS-style certificate store, issuing, chain validation
with CRLs, and matching a peer's identity against its certificate. Imports only ``crypto`` and
``wire`` of ours (DESIGN.md §1)."""
