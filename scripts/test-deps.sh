#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, or fails
# saying what is missing. Tests never skip for a missing tool.
set -euo pipefail

need_apt=()
command -v az >/dev/null 2>&1 || need_apt+=(azure-cli)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v jq >/dev/null 2>&1 || need_apt+=(jq)          # the README's walkthrough keeps ids with jq
# The data plane's tests: ip (iproute2) and nft read the host's state to
# check it is unchanged; iperf3 measures throughput in the bench.
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v nft >/dev/null 2>&1 || need_apt+=(nftables)
command -v iperf3 >/dev/null 2>&1 || need_apt+=(iperf3)
# The Kafka endpoints' tests: kcat (librdkafka) lists brokers from a VNet;
# getent (libc-bin) resolves the clusters' private names there.
command -v kcat >/dev/null 2>&1 || need_apt+=(kcat)
command -v getent >/dev/null 2>&1 || need_apt+=(libc-bin)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; then
    echo "test-deps: need Debian packages ${need_apt[*]}: run 'apt-get install ${need_apt[*]}' as root" >&2
    exit 1
  fi
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "test-deps: installing ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

for tool in az chromium jq ip nft iperf3 kcat getent; do
  command -v "$tool" >/dev/null 2>&1 || { echo "test-deps: $tool is still missing after install" >&2; exit 1; }
done
echo "test-deps: ok (az $(az version --query '"azure-cli"' -o tsv 2>/dev/null || echo '?'), $(chromium --version 2>/dev/null | head -1), $(jq --version))"
