#!/bin/sh
# Makes a private CA and every certificate of mutual TLS on the switching port (README "Security"), with openssl:
#   tools/make-certificates.sh <directory>
# Environment (all optional):
#   SERVICE_HOSTS   DNS names the service is reached by            (default "callrecovery localhost")
#   SWITCH_IDS      switch ids to make client certificates for     (default "switch-default")
#   LOOKUP_CLIENTS  lookup client names (Switching:LookupClients)  (default "callrecovery-lookup")
#   DAYS            validity of the certificates                   (default 825)
# Writes ca.crt/ca.key (the CA: Switching:ClientCertificateAuthorityPath, and the tools' --server-ca),
# service.crt/service.key (Kestrel:Endpoints:Switching:Certificate:Path/KeyPath), and <name>.crt/<name>.key for each
# switch and lookup client (the switch id as DNS subject alternative name and CN; client-authentication usage).
# Rerunnable: the CA and certificates already there are kept, so switches already issued stay valid.
set -eu

dir="${1:?usage: make-certificates.sh <directory>}"
hosts="${SERVICE_HOSTS:-callrecovery localhost}"
switches="${SWITCH_IDS:-switch-default}"
lookups="${LOOKUP_CLIENTS:-callrecovery-lookup}"
days="${DAYS:-825}"
mkdir -p "$dir"
cd "$dir"
umask 077

if [ ! -f ca.crt ] || [ ! -f ca.key ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days "$days" \
    -subj "/CN=CallRecovery private CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  echo "made ca.crt"
fi

# issue <name> <extendedKeyUsage> <subjectAltName>
issue() {
  [ -f "$1.crt" ] && [ -f "$1.key" ] && return 0
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' "$2" "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days "$days" -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
  echo "made $1.crt"
}

san=""
for host in $hosts; do san="${san:+$san,}DNS:$host"; done
issue service serverAuth "$san,IP:127.0.0.1"
# The service's certificate keeps the file names Kestrel's settings use, whatever its CN.
for name in $switches $lookups; do
  issue "$name" clientAuth "DNS:$name"
done
# Certificates for everyone; each key for its owner only. In compose the job runs as root and the service's and the
# emulator's containers as uid 10001, so the keys they use go to that user; the CA's key stays root's.
chmod 0644 ./*.crt
chmod 0600 ./*.key
for name in service $switches $lookups; do
  chown 10001:10001 "$name.key" 2>/dev/null || true
done
