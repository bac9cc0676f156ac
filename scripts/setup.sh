#!/usr/bin/env bash
# Installs what score-cluster needs to build, test and run, when it is missing:
# Debian packages (libpython3.11 headers, venv, compression libraries, libcurl, libxml2 for
# Foundation's XML parser; slurm-wlm and munge for the one-machine Slurm cluster the tests start),
# the project's Python environment (.venv, made with Debian's /usr/bin/python3.11,
# the interpreter whose libpython the worker links) and the environment of the
# services the tests start (.venv-services: the MLflow tracking server).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(python3.11-dev libpython3-dev python3.11-venv libzstd-dev libsnappy-dev zlib1g-dev liblz4-dev libssl-dev libcurl4-openssl-dev libxml2 pkg-config slurm-wlm munge)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# build_env DIR REQUIREMENTS: (re)builds DIR when REQUIREMENTS changed since it was built.
build_env() {
  local venv=$1 requirements=$2
  local stamp="$venv/.requirements.sha" want
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: building $venv with /usr/bin/python3.11 from $requirements"
    /usr/bin/python3.11 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
    echo "$want" > "$stamp"
  fi
}
build_env .venv scripts/requirements.txt
build_env .venv-services scripts/requirements-services.txt
