# The configuration the router of v6-gcp-site-to-site.print.txt had, reconstructed from its print
# output (x.y.z -> 203.0.113, w.x.z -> 198.51.100; everything else as printed).
/ip ipsec profile
set [ find default=yes ] dh-group=modp2048,modp1024
add dh-group=modp2048,modp1024 lifetime=10h10m name=profile_gcp nat-traversal=no
/ip ipsec peer
add address=203.0.113.108/32 exchange-mode=ike2 local-address=198.51.100.18 name=peer_gcp_eu_north1 \
    profile=profile_gcp
/ip ipsec proposal
set [ find default=yes ] enc-algorithms=aes-128-cbc lifetime=3h
/ip ipsec identity
add peer=peer_gcp_eu_north1 secret=your_pw
/ip ipsec policy
set 0 disabled=yes
add comment="MGMT <-> GCP eu-north1" dst-address=10.166.0.0/20 level=unique sa-dst-address=203.0.113.108 \
    sa-src-address=198.51.100.18 src-address=10.10.89.0/24 tunnel=yes
add comment="INTERNAL <-> GCP eu-north1" dst-address=10.166.0.0/20 level=unique sa-dst-address=203.0.113.108 \
    sa-src-address=198.51.100.18 src-address=10.10.80.0/23 tunnel=yes
