# Site-to-site gateway B (192.0.2.2, LAN 10.2.0.0/24) <-> gateway A (192.0.2.1, LAN 10.1.0.0/24).
# The mirror image of site-to-site-a.rsc.
/ip ipsec profile
add dh-group=ecp256,modp2048 enc-algorithm=aes-256,aes-128 hash-algorithm=sha256 name=site-a
/ip ipsec peer
add address=192.0.2.1/32 exchange-mode=ike2 local-address=192.0.2.2 name=site-a profile=site-a
/ip ipsec proposal
add auth-algorithms=sha256 enc-algorithms=aes-256-gcm,aes-256-cbc lifetime=1h name=site-a pfs-group=ecp256
/ip ipsec identity
add my-id=fqdn:gw-b.example.net peer=site-a remote-id=fqdn:gw-a.example.net \
    secret="correct horse battery staple"
/ip ipsec policy
add comment="LAN B <-> LAN A" dst-address=10.1.0.0/24 peer=site-a proposal=site-a sa-dst-address=192.0.2.1 \
    sa-src-address=192.0.2.2 src-address=10.2.0.0/24 tunnel=yes
