# 2025-03-02 11:40:07 by RouterOS 7.16.2
# software id = 7K2D-QX4R
#
# model = RB5009UG+S+
# serial number = HG9097ABC12
/interface bridge
add admin-mac=48:A9:8A:00:11:22 auto-mac=no comment=defconf name=bridge
/interface list
add comment=defconf name=WAN
add comment=defconf name=LAN
/ip ipsec profile
add dh-group=ecp256,modp2048 enc-algorithm=aes-256 hash-algorithm=sha256 name=to-branch \
    prf-algorithm=sha256
/ip ipsec peer
add address=203.0.113.20/32 exchange-mode=ike2 local-address=198.51.100.10 name=branch \
    profile=to-branch
/ip ipsec proposal
add auth-algorithms="" enc-algorithms=aes-256-gcm,aes-128-gcm lifetime=8h name=to-branch \
    pfs-group=ecp256
/ip pool
add name=dhcp ranges=192.168.88.10-192.168.88.254
/interface bridge port
add bridge=bridge comment=defconf interface=ether2
/ip address
add address=192.168.88.1/24 comment=defconf interface=bridge network=192.168.88.0
add address=198.51.100.10/24 interface=ether1 network=198.51.100.0
/ip firewall filter
add action=accept chain=input comment="IKE" dst-port=500,4500 protocol=udp
add action=accept chain=input comment="ESP" protocol=ipsec-esp
add action=accept chain=forward ipsec-policy=in,ipsec
/ip firewall nat
add action=accept chain=srcnat dst-address=10.20.0.0/16 src-address=192.168.88.0/24
add action=masquerade chain=srcnat out-interface-list=WAN
/ip ipsec identity
add my-id=fqdn:hq.example.net peer=branch remote-id=fqdn:branch.example.net secret=\
    "Bt7-correct-horse-battery"
/ip ipsec policy
add dst-address=10.20.0.0/16 peer=branch proposal=to-branch src-address=192.168.88.0/24 tunnel=yes
add dst-address=10.21.0.0/24 peer=branch proposal=to-branch protocol=gre src-address=\
    192.168.88.0/24 tunnel=yes
/ip ipsec settings
set accounting=no
/system clock
set time-zone-name=Europe/Riga
/system identity
set name=hq-gw
