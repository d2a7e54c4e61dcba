# jan/12/2021 09:14:51 by RouterOS 6.47.8
# software id = L3Q8-VX21
#
# model = RB951Ui-2HnD
/interface bridge
add name=bridge-local
/interface wireless security-profiles
set [ find default=yes ] supplicant-identity=MikroTik
/ip ipsec peer
add address=192.0.2.44/32 name=office
/ip ipsec profile
set [ find default=yes ] dh-group=modp1024 enc-algorithm=aes-256,aes-128,3des
/ip ipsec proposal
set [ find default=yes ] enc-algorithms=aes-256-cbc,aes-128-cbc
/ip address
add address=10.1.101.1/24 interface=bridge-local network=10.1.101.0
/ip firewall nat
add action=accept chain=srcnat dst-address=10.1.202.0/24 src-address=10.1.101.0/24
add action=masquerade chain=srcnat out-interface=ether1
/ip ipsec identity
add peer=office secret=test123
/ip ipsec policy
add dst-address=10.1.202.0/24 sa-dst-address=192.0.2.44 sa-src-address=192.0.2.1 src-address=\
    10.1.101.0/24 tunnel=yes
/system identity
set name=branch-6
