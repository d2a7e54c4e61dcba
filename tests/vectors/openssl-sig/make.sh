#!/bin/sh
# Regenerates the OpenSSL signature vectors of this directory (see README.md).
set -eu
cd "$(dirname "$0")"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2048.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out p521.pem
openssl genpkey -algorithm ED25519 -out ed25519.pem
openssl genpkey -algorithm ED448 -out ed448.pem
printf 'RealMessage1 | NonceRData | MACedIDForI, as an IKEv2 initiator signs it' > data.bin
openssl dgst -sha1 -binary data.bin > hash-sha1.bin
out=signatures.txt
: > $out
sig() {  # name key digest [pkeyopts...]
    name=$1 key=$2 md=$3; shift 3
    opts=""
    for o in "$@"; do opts="$opts -sigopt $o"; done
    # shellcheck disable=SC2086
    openssl dgst -"$md" -sign "$key" $opts -out "$name.sig" data.bin
    echo "$name = $(xxd -p -c 10000 "$name.sig")" >> $out
    rm "$name.sig"
}
sig rsa-pkcs1-sha1 rsa2048.pem sha1
sig rsa-pkcs1-sha256 rsa2048.pem sha256
sig rsa-pkcs1-sha384 rsa2048.pem sha384
sig rsa-pkcs1-sha512 rsa2048.pem sha512
sig rsa-pss-sha256 rsa2048.pem sha256 rsa_padding_mode:pss rsa_pss_saltlen:32 rsa_mgf1_md:sha256
sig rsa-pss-sha384 rsa2048.pem sha384 rsa_padding_mode:pss rsa_pss_saltlen:48 rsa_mgf1_md:sha384
sig rsa-pss-sha512 rsa2048.pem sha512 rsa_padding_mode:pss rsa_pss_saltlen:64 rsa_mgf1_md:sha512
sig ecdsa-p256-sha256 p256.pem sha256
sig ecdsa-p384-sha384 p384.pem sha384
sig ecdsa-p521-sha512 p521.pem sha512
sig ecdsa-p256-sha384 p256.pem sha384
for k in ed25519 ed448; do
    openssl pkeyutl -sign -rawin -inkey $k.pem -in data.bin -out $k.sig
    echo "$k = $(xxd -p -c 10000 $k.sig)" >> $out
    rm $k.sig
done
# IKEv1 (RFC 2409 §5.1): the 20-byte HASH_I padded without DigestInfo
openssl pkeyutl -sign -inkey rsa2048.pem -pkeyopt rsa_padding_mode:pkcs1 -in hash-sha1.bin -out v1.sig
echo "ikev1-rsa-sha1-hash = $(xxd -p -c 10000 v1.sig)" >> $out
rm v1.sig
# IKEv1 ECDSA (RFC 4754, as strongSwan signs): the HASH signed as the digest itself (DER here; IKE
# carries r | s)
openssl dgst -sha256 -binary data.bin > hash-sha256.bin
openssl pkeyutl -sign -inkey p256.pem -in hash-sha1.bin -out v1.sig
echo "ikev1-ecdsa-p256-sha1-hash = $(xxd -p -c 10000 v1.sig)" >> $out
openssl pkeyutl -sign -inkey p384.pem -in hash-sha256.bin -out v1.sig
echo "ikev1-ecdsa-p384-sha256-hash = $(xxd -p -c 10000 v1.sig)" >> $out
rm v1.sig
