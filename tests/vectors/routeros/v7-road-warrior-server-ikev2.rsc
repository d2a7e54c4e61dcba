# RouterOS 7 IKEv2 road-warrior server after MikroTik's documented recipe: a pool, a mode-config
# with address-pool= and no responder= (a responder on RouterOS), a policy template group.
/ip pool
add name=rw-pool ranges=192.168.77.2-192.168.77.254
/ip ipsec mode-config
add address-pool=rw-pool address-prefix-length=32 name=rw-conf split-include=10.5.8.0/24 \
    static-dns=10.5.8.1 system-dns=no
/ip ipsec policy group
add name=rw-policies
/ip ipsec profile
add dh-group=ecp256,modp2048,modp1024 enc-algorithm=aes-256,aes-192,aes-128 name=rw-profile
/ip ipsec peer
add exchange-mode=ike2 name=rw-peer passive=yes profile=rw-profile
/ip ipsec proposal
add auth-algorithms=sha256,sha1 name=rw-proposal pfs-group=none
/ip ipsec identity
add auth-method=pre-shared-key generate-policy=port-strict mode-config=rw-conf peer=rw-peer \
    policy-template-group=rw-policies remote-id=user-fqdn:laptop@example.net secret=Rw.s3cret
add generate-policy=port-strict mode-config=rw-conf peer=rw-peer policy-template-group=\
    rw-policies remote-id=user-fqdn:phone@example.net secret=Ph.s3cret
/ip ipsec policy
add dst-address=192.168.77.0/24 group=rw-policies proposal=rw-proposal src-address=0.0.0.0/0 \
    template=yes
/ip firewall filter
add action=accept chain=input dst-port=500,4500 protocol=udp
add action=accept chain=input protocol=ipsec-esp
