# Site-to-site gateway A (192.0.2.1, LAN 10.1.0.0/24) <-> gateway B (192.0.2.2, LAN 10.2.0.0/24).
# IKEv2 with a pre-shared key; one tunnel-mode policy for the two LANs.
/ip ipsec profile
add dh-group=ecp256,modp2048 enc-algorithm=aes-256,aes-128 hash-algorithm=sha256 name=site-b
/ip ipsec peer
add address=192.0.2.2/32 exchange-mode=ike2 local-address=192.0.2.1 name=site-b profile=site-b
/ip ipsec proposal
add auth-algorithms=sha256 enc-algorithms=aes-256-gcm,aes-256-cbc lifetime=1h name=site-b pfs-group=ecp256
/ip ipsec identity
add my-id=fqdn:gw-a.example.net peer=site-b remote-id=fqdn:gw-b.example.net \
    secret="correct horse battery staple"
/ip ipsec policy
add comment="LAN A <-> LAN B" dst-address=10.2.0.0/24 peer=site-b proposal=site-b sa-dst-address=192.0.2.2 \
    sa-src-address=192.0.2.1 src-address=10.1.0.0/24 tunnel=yes
