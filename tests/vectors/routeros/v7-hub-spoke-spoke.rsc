# The /ip ipsec configuration of Mikrotik-Spoke1 in v7-hub-spoke.print.txt, as the post gives it
# (RouterOS 7.20.4): an IKEv2 client of the hub with request-only mode-config and one policy of its own.
/ip ipsec profile add dh-group=modp2048 enc-algorithm=aes-256 hash-algorithm=sha256 name=hub-n-spoke-prof
/ip ipsec peer add address=50.0.0.50/32 exchange-mode=ike2 name=to-hub profile=hub-n-spoke-prof
/ip ipsec proposal add auth-algorithms=sha256 enc-algorithms=aes-256-cbc name=hub-n-spoke-prop
/ip ipsec identity add generate-policy=port-strict mode-config=request-only my-id=key-id:spoke1 peer=to-hub \
    secret=123abc
/ip ipsec policy set 0 proposal=hub-n-spoke-prop
/ip ipsec policy add dst-address=172.16.0.1/32 level=unique peer=to-hub proposal=hub-n-spoke-prop \
    src-address=192.168.150.0/24 tunnel=yes
