"""ipsecd: IPsec (IKEv1/IKEv2, ESP/AH, SPD/SAD) configured in RouterOS's ``/ip ipsec`` language."""

__version__ = "0.1.0"
