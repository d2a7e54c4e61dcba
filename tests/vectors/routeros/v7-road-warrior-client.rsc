# RouterOS 7 road-warrior client after MikroTik's documented recipe: its own mode-config with
# responder=no and src-address-list (dynamic source NAT), a template for what goes through.
/ip firewall address-list
add address=192.168.88.0/24 list=local
/ip ipsec mode-config
add name=hq-client responder=no src-address-list=local
/ip ipsec policy group
add name=hq
/ip ipsec profile
add name=hq
/ip ipsec peer
add address=vpn.example.net exchange-mode=ike2 name=hq profile=hq
/ip ipsec proposal
add name=hq pfs-group=none
/ip ipsec identity
add generate-policy=port-strict mode-config=hq-client peer=hq policy-template-group=hq \
    secret=Cl1ent.secret
/ip ipsec policy
add dst-address=10.0.0.0/8 group=hq proposal=hq src-address=0.0.0.0/0 template=yes
