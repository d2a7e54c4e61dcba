# Road-warrior responder: IKEv2 clients from anywhere authenticate with a pre-shared key, get an
# address from a pool by mode-config, and policies are generated from the template group.
/ip pool
add name=rw-pool ranges=10.99.0.10-10.99.0.250
/ip ipsec mode-config
add address-pool=rw-pool address-prefix-length=32 name=rw-cfg split-include=10.1.0.0/24 static-dns=10.1.0.1 \
    responder=yes
/ip ipsec policy group
add name=rw-group
/ip ipsec profile
add dh-group=ecp256,modp2048 enc-algorithm=aes-256 hash-algorithm=sha256 name=rw-profile
/ip ipsec peer
add exchange-mode=ike2 name=rw passive=yes profile=rw-profile send-initial-contact=no
/ip ipsec proposal
add auth-algorithms=sha256 enc-algorithms=aes-256-gcm,aes-256-cbc name=rw-proposal pfs-group=none
/ip ipsec identity
add generate-policy=port-strict mode-config=rw-cfg my-id=fqdn:vpn.example.net peer=rw \
    policy-template-group=rw-group remote-id=ignore secret="road warrior shared key"
/ip ipsec policy
add dst-address=10.99.0.0/24 group=rw-group proposal=rw-proposal src-address=10.1.0.0/24 template=yes
