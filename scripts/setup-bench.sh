#!/usr/bin/env bash
# Installs what the benchmark's optional systems need, when it is missing (run after setup.sh):
# the packages of scripts/requirements-bench.txt in .venv (pyspark, matplotlib) and, when no
# Java 17 or later is on PATH, Debian's openjdk-17-jre-headless (pyspark 4 needs it).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/.requirements-bench.sha"
want=$(sha256sum scripts/requirements-bench.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup-bench: installing scripts/requirements-bench.txt into $venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r scripts/requirements-bench.txt
  echo "$want" > "$stamp"
fi

java_major() {
  command -v java >/dev/null 2>&1 || { echo 0; return; }
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\)\(\.\([0-9]*\)\)\{0,1\}.*/\1 \3/p' | head -n1 |
    awk '{ print ($1 == 1 ? $2 : $1) + 0 }'
}
if [ "$(java_major)" -lt 17 ]; then
  echo "setup-bench: installing openjdk-17-jre-headless (pyspark needs Java 17 or later)"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi
