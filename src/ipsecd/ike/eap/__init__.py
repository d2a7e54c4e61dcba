"""EAP methods (RFC 3748) as sans-I/O objects: EAP packets in, EAP packets and an MSK out."""
