# 2024-11-19 03:00:11 by RouterOS 7.10
# software id = 
#
# Written for ipsecd in the shape of a real `export terse` of a RouterOS 7.10 CHR (one command per
# line, the full menu path on each; see README.md): several IKEv2 responders (PSK inside an L2TP
# tunnel, certificates outside), names with spaces and slashes, templates per group, a script whose
# source spans continuation lines, and firewall rules that match on IPsec.
/interface bridge add arp=proxy-arp fast-forward=no name=infra-br port-cost-mode=short
/interface l2tp-server add name=tunnel-branch user=vpn-branch
/interface list add comment="trusted interfaces" name=list-trusted
/ip ipsec policy group add name=roadwarrior-s
/ip ipsec policy group add name=roaming-s
/ip ipsec policy group add name=branch-s
/ip ipsec profile set [ find default=yes ] dh-group=modp1024
/ip ipsec profile add dh-group=modp1024 enc-algorithm=aes-256 hash-algorithm=sha256 name=ROUTEROS
/ip ipsec profile add dh-group=modp1024 enc-algorithm=aes-256 hash-algorithm=sha256 name=IOS/OSX
/ip ipsec peer add address=10.0.0.3/32 comment="IKEv2 PHASE1 (BRANCH, inside the L2TP tunnel)" local-address=10.0.0.1 name=BRANCH-INNER passive=yes profile=ROUTEROS send-initial-contact=no
/ip ipsec peer add comment="IKEv2 PHASE1 (IOS/OSX)" disabled=yes exchange-mode=ike2 local-address=198.51.100.14 name=RW passive=yes profile=IOS/OSX send-initial-contact=no
/ip ipsec peer add comment="IKEv2 PHASE1 (ANY, outer tunnel, RSA)" exchange-mode=ike2 local-address=198.51.100.14 name=ANY-OUTER passive=yes profile=ROUTEROS send-initial-contact=no
/ip ipsec proposal set [ find default=yes ] disabled=yes enc-algorithms=aes-256-cbc,aes-192-cbc,aes-128-cbc,3des lifetime=1h
/ip ipsec proposal add auth-algorithms=sha256 enc-algorithms=aes-256-cbc name="IKEv2 PHASE2 MIKROTIK"
/ip ipsec proposal add auth-algorithms=sha256 enc-algorithms=aes-256-cbc lifetime=8h name="IKEv2 PHASE2 IOS/OSX" pfs-group=none
/ip pool add name=pool-vpn ranges=10.0.0.0/29
/ip pool add name=pool-rw ranges=10.10.10.8/29
/ip ipsec mode-config add address-pool=pool-vpn address-prefix-length=30 name=common-setup static-dns=192.0.2.53 system-dns=no
/ip ipsec mode-config add address-pool=pool-rw address-prefix-length=32 name=roadwarrior-setup
/ip firewall filter add action=accept chain=input comment="allow IKE" dst-port=500,4500 protocol=udp
/ip firewall filter add action=accept chain=input comment="VPN \"Allow IPSec-esp\"" protocol=ipsec-esp
/ip firewall mangle add action=mark-connection chain=input comment="Mark IPsec" ipsec-policy=in,ipsec new-connection-mark=ipsec passthrough=yes
/ip ipsec identity add comment=to-BRANCH-inner-PSK generate-policy=port-strict mode-config=common-setup peer=BRANCH-INNER policy-template-group=roaming-s secret=Inner-Branch-Key
/ip ipsec identity add auth-method=digital-signature certificate=S.198.51.100.14@CHR disabled=yes generate-policy=port-override mode-config=roadwarrior-setup peer=RW policy-template-group=roadwarrior-s
/ip ipsec identity add auth-method=digital-signature certificate=ca@CHR comment=to-BRANCH-outer-RSA generate-policy=port-override match-by=certificate mode-config=common-setup peer=ANY-OUTER policy-template-group=branch-s remote-certificate=C.branch@CHR remote-id=ignore
/ip ipsec policy set 0 disabled=yes
/ip ipsec policy add comment="Roadwarrior TRANSPORT TEMPLATE (outer tunnel)" disabled=yes dst-address=10.10.10.8/29 group=roadwarrior-s proposal="IKEv2 PHASE2 IOS/OSX" src-address=0.0.0.0/0 template=yes
/ip ipsec policy add comment="Common TUNNEL TEMPLATE (inner)" dst-address=0.0.0.0/0 group=roaming-s proposal="IKEv2 PHASE2 MIKROTIK" src-address=192.168.97.0/29 template=yes
/ip ipsec policy add comment=BRANCH-OUTER-REMOTE-CONTROLLABLE dst-address=0.0.0.0/0 group=branch-s proposal="IKEv2 PHASE2 MIKROTIK" protocol=udp src-address=198.51.100.14/32 template=yes
/system logging add action=memory topics=ipsec,!debug
/system script add dont-require-permissions=yes name=ipsecState owner=admin policy=read,write source=":local state \"okay\";\r\
    \n/ip ipsec policy {\r\
    \n  :foreach p in=[find where ph2-state!=\"established\"] do={ :set state \"down\" }\r\
    \n}\r\
    \n:log info \$state"
/system identity set name=CHR
