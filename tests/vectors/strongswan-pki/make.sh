#!/bin/sh
# Regenerates the certificates of this directory with strongSwan's pki tool (Debian package
# strongswan-pki, 5.9.8) and OpenSSL (PKCS#12 only: pki cannot write it). See README.md.
set -eu
cd "$(dirname "$0")"
rm -f ./*.crt ./*.key ./*.crl ./*.p12 ./*.der
D='--dateform %Y-%m-%d'
VALID="$D --not-before 2026-01-01 --not-after 2036-01-01"
gen() { pki --gen --type "$1" ${2:+--size "$2"} --outform pem > "$3.key"; }
pub() { pki --pub --in "$1.key" --outform pem; }
# issue NAME ISSUER DN [options…]
issue() {
    name=$1 issuer=$2 dn=$3; shift 3
    pub "$name" | pki --issue --cacert "$issuer.crt" --cakey "$issuer.key" --dn "$dn" --outform pem "$@" > "$name.crt"
}

# the root CA (RSA 2048) and an intermediate CA (ECDSA P-256, pathlen 0) below it
gen rsa 2048 ca
pki --self --ca --in ca.key --dn "C=CH, O=ipsecd test, CN=ipsecd test root CA" $VALID --outform pem > ca.crt
gen ecdsa 256 intermediate
issue intermediate ca "C=CH, O=ipsecd test, CN=ipsecd test intermediate CA" --ca --pathlen 0 $VALID

# gateways: RSA 2048 by the root (serverAuth + ikeIntermediate, as Windows wants), ECDSA P-256 by
# the intermediate
gen rsa 2048 gw-rsa
issue gw-rsa ca "C=CH, O=ipsecd test, CN=gw.example.com" --san gw.example.com --san 192.0.2.1 \
    --flag serverAuth --flag ikeIntermediate $VALID
gen ecdsa 256 gw-ecdsa
issue gw-ecdsa intermediate "C=CH, O=ipsecd test, CN=gw2.example.com" --san gw2.example.com \
    --flag serverAuth $VALID

# clients: ECDSA P-256 with an email SAN, RSA signed with RSASSA-PSS, and one without any SAN
gen ecdsa 256 client
issue client ca "C=CH, O=ipsecd test, CN=alice@example.com" --san alice@example.com --flag clientAuth $VALID
gen rsa 2048 client-pss
issue client-pss ca "C=CH, O=ipsecd test, CN=bob" --san bob.example.com --rsa-padding pss $VALID
gen ecdsa 256 client-nosan
issue client-nosan ca "C=CH, O=ipsecd test, CN=nosan.example.com" $VALID

# an Ed25519 CA and client
gen ed25519 "" ed-ca
pki --self --ca --in ed-ca.key --dn "C=CH, O=ipsecd test, CN=ipsecd test Ed25519 CA" $VALID --outform pem > ed-ca.crt
gen ed25519 "" ed-client
issue ed-client ed-ca "C=CH, O=ipsecd test, CN=carol.example.com" --san carol.example.com $VALID

# refused cases
gen ecdsa 256 expired
issue expired ca "C=CH, O=ipsecd test, CN=expired.example.com" --san expired.example.com \
    $D --not-before 2020-01-01 --not-after 2021-01-01
gen ecdsa 256 revoked
issue revoked ca "C=CH, O=ipsecd test, CN=revoked.example.com" --san revoked.example.com $VALID
gen ecdsa 256 wrong-eku
issue wrong-eku ca "C=CH, O=ipsecd test, CN=wrong-eku.example.com" --san wrong-eku.example.com \
    --flag ocspSigning $VALID
gen ecdsa 256 mismatch
issue mismatch ca "C=CH, O=ipsecd test, CN=gw.example.com" --san other.example.com --flag serverAuth $VALID
# a rogue CA with the very DN of the root CA, and a gateway certificate it signed
gen ecdsa 256 rogue-ca
pki --self --ca --in rogue-ca.key --dn "C=CH, O=ipsecd test, CN=ipsecd test root CA" $VALID --outform pem > rogue-ca.crt
gen ecdsa 256 rogue
issue rogue rogue-ca "C=CH, O=ipsecd test, CN=gw.example.com" --san gw.example.com $VALID
# an end-entity certificate (no CA flag) that signed another one (pki refuses to, OpenSSL does not)
gen ecdsa 256 not-ca
issue not-ca ca "C=CH, O=ipsecd test, CN=not-a-ca" $VALID
gen ecdsa 256 under-not-ca
openssl req -new -key under-not-ca.key -subj "/C=CH/O=ipsecd test/CN=under-not-ca.example.com" |
    openssl x509 -req -CA not-ca.crt -CAkey not-ca.key -set_serial 7 -days 3650 -out under-not-ca.crt 2>/dev/null
# the intermediate allows no CA below it (pathlen 0); this one is a CA below it, with a leaf
gen ecdsa 256 sub-intermediate
issue sub-intermediate intermediate "C=CH, O=ipsecd test, CN=ipsecd test sub-intermediate CA" --ca $VALID
gen ecdsa 256 too-deep
issue too-deep sub-intermediate "C=CH, O=ipsecd test, CN=too-deep.example.com" --san too-deep.example.com $VALID

# a CA under the root that may only certify example.com (bad.example.com excluded), and three
# certificates it signed: inside, outside, and in the excluded subtree (pki 5.9.8 writes an empty
# subtree for an address constraint, so those are tested with certificates the tests make)
gen ecdsa 256 nc-ca
issue nc-ca ca "C=CH, O=ipsecd test, CN=ipsecd test constrained CA" --ca --nc-permitted example.com \
    --nc-excluded bad.example.com $VALID
gen ecdsa 256 nc-inside
issue nc-inside nc-ca "C=CH, O=ipsecd test, CN=vpn.example.com" --san vpn.example.com $VALID
gen ecdsa 256 nc-outside
issue nc-outside nc-ca "C=CH, O=ipsecd test, CN=vpn.example.org" --san vpn.example.org $VALID
gen ecdsa 256 nc-excluded
issue nc-excluded nc-ca "C=CH, O=ipsecd test, CN=x.bad.example.com" --san x.bad.example.com $VALID

# an RSA 4096 chain (root, intermediate, gateway, client): IKE_AUTH with it needs IKE fragmentation
gen rsa 4096 ca4096
pki --self --ca --in ca4096.key --dn "C=CH, O=ipsecd test, CN=ipsecd test RSA-4096 root CA" $VALID --outform pem > ca4096.crt
gen rsa 4096 intermediate4096
issue intermediate4096 ca4096 "C=CH, O=ipsecd test, CN=ipsecd test RSA-4096 intermediate CA" --ca --pathlen 0 $VALID
gen rsa 4096 gw4096
issue gw4096 intermediate4096 "C=CH, O=ipsecd test, CN=gw.example.com" --san gw.example.com --flag serverAuth $VALID
gen rsa 4096 client4096
issue client4096 intermediate4096 "C=CH, O=ipsecd test, CN=alice@example.com" --san alice@example.com \
    --flag clientAuth $VALID

# the root CA's CRL (revoking "revoked"), valid 2027-01-01 .. 2028-01-01
pki --signcrl --cacert ca.crt --cakey ca.key --reason key-compromise --cert revoked.crt \
    $D --this-update 2027-01-01 --next-update 2028-01-01 --outform pem > ca.crl

# the same gateway certificate and key as DER and as PKCS#12 (passphrase "test-passphrase")
openssl x509 -in gw-rsa.crt -outform der -out gw-rsa.der
openssl pkcs12 -export -inkey gw-ecdsa.key -in gw-ecdsa.crt -certfile intermediate.crt -name gw-ecdsa \
    -passout pass:test-passphrase -out gw-ecdsa.p12
