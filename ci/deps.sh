#!/bin/sh
# Checks for the Debian packages semiseg needs. As root, apt-installs what is
# missing; otherwise prints the exact command and fails.
set -e
PKGS="build-essential pkg-config check libhdf5-dev gnuplot-nox libdnnl-dev libopenblas-dev \
libinih-dev libcjson-dev libpng-dev libjpeg62-turbo-dev libnifti2-dev libteem-dev zlib1g-dev \
libsleef-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    exit 0
fi
echo "deps: missing Debian packages:$missing"
if [ "$(id -u)" = "0" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends $missing
    echo "deps: installed:$missing"
else
    echo "deps: run this as root, then re-run make:"
    echo "  sudo apt-get install -y$missing"
    exit 1
fi
