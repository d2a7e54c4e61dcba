"""IKEv2 payload codecs, one module per payload family (RFC 7296 §3.2–§3.16)."""
