"""Certificates for IKE (issue 12). Imports only ``crypto``, ``wire`` and ``util`` of ours (DESIGN.md §1).

``store`` (the RouterOS ``/certificate`` store: entries, keys 0600, CRLs, crl-use, validation cache)
with ``describe`` (print rows and flags), ``formats`` (PEM/DER/PKCS#12 in and out) and ``issue``
(add + sign); ``verify`` (chain validation, CRLs) with ``constraints`` (name constraints);
``identity`` (my-id, remote-id, match-by); ``peer`` (accept a peer's certificate for an identity)
and ``payloads`` (CERT/CERTREQ for IKEv2) — what the public-key authenticator of ``ike/auth`` uses,
with ``crypto.sig`` for the AUTH payload itself.
"""
