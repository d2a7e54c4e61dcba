# RouterOS 6 IKEv1 road-warrior server with XAuth users and mode-config (Cisco/Apple clients),
# after the RouterOS 6 wiki recipe; /ip ipsec user holds the XAuth users there.
/ip pool
add name=ipsec-rw ranges=10.5.9.1-10.5.9.100
/ip ipsec mode-config
add address-pool=ipsec-rw name=rw-cfg split-include=10.5.8.0/24
/ip ipsec policy group
add name=rw
/ip ipsec peer
add exchange-mode=main name=rw passive=yes
/ip ipsec identity
add auth-method=pre-shared-key-xauth generate-policy=port-strict mode-config=rw-cfg peer=rw \
    policy-template-group=rw secret=123456789
/ip ipsec policy
add dst-address=10.5.9.0/24 group=rw src-address=0.0.0.0/0 template=yes
/ip ipsec user
add name=user1 password=123
add name=user2 password=234
