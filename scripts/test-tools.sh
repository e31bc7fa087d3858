#!/usr/bin/env bash
# Installs the real servers the tests run against into .cache/ (idempotent;
# a second run only checks). A tool that cannot be installed is reported and
# skipped here: the tests that need it then fail unless ALLOW_SKIP=1.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin="$root/.cache/bin"
mkdir -p "$bin"
status=0

# go_tool NAME MODULE@VERSION: go install into .cache/bin, once per version.
go_tool() {
	local name=$1 pkg=$2 stamp="$bin/.$1.version"
	if [ -x "$bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pkg" ]; then
		return 0
	fi
	echo "test-tools: installing $pkg"
	if GOBIN="$bin" go install "$pkg"; then
		echo "$pkg" >"$stamp"
	else
		echo "test-tools: cannot install $pkg" >&2
		status=1
	fi
}

go_tool versitygw github.com/versity/versitygw/cmd/versitygw@v1.8.0
go_tool fake-gcs-server github.com/fsouza/fake-gcs-server@v1.56.1
go_tool toxiproxy-server github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0
# go install names the toxiproxy binary after its directory.
if [ -x "$bin/server" ]; then mv -f "$bin/server" "$bin/toxiproxy-server"; fi

# A real etcd binary from etcd's own main package, at the version go.mod pins.
if ! (cd tools/etcd && go build -o "$bin/etcd" .); then
	echo "test-tools: cannot build etcd" >&2
	status=1
fi

# Azurite (Azure Blob emulator) from npm.
azurite="$root/.cache/azurite"
if [ ! -f "$azurite/node_modules/azurite/dist/src/blob/main.js" ]; then
	if command -v npm >/dev/null; then
		echo "test-tools: installing azurite"
		mkdir -p "$azurite"
		npm install --prefix "$azurite" --no-audit --no-fund --silent azurite@3.35 || {
			echo "test-tools: cannot install azurite" >&2
			status=1
		}
	else
		echo "test-tools: npm is missing; cannot install azurite" >&2
		status=1
	fi
fi

# OpenStack Swift and memcached from Debian's packages.
if ! command -v swift-proxy-server >/dev/null || ! command -v memcached >/dev/null; then
	sudo=""
	[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo=sudo
	echo "test-tools: installing swift from Debian's packages"
	export DEBIAN_FRONTEND=noninteractive
	if ! { $sudo apt-get update -qq &&
		$sudo apt-get install -y -qq --no-install-recommends \
			swift swift-proxy swift-object swift-account swift-container memcached >/dev/null; }; then
		echo "test-tools: cannot install swift" >&2
		status=1
	fi
	# The packages start services of their own; the tests run their own.
	for s in memcached swift-proxy swift-object swift-account swift-container; do
		$sudo service "$s" stop >/dev/null 2>&1 || true
	done
fi
exit $status
