#!/usr/bin/env bash
# Installs what the demo and the tests need beyond the .NET SDK: redis-server and openssl (Debian packages; openssl
# for tools/make-certificates.sh).
# Kafka needs nothing: librdkafka's mock cluster ships inside the Confluent.Kafka NuGet package.
set -euo pipefail
if ! command -v redis-server >/dev/null 2>&1; then
  echo "Installing redis-server (Debian package)..."
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi
if ! command -v openssl >/dev/null 2>&1; then
  echo "Installing openssl (Debian package)..."
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openssl >/dev/null
fi
