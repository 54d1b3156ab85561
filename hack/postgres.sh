#!/usr/bin/env bash
# A throwaway PostgreSQL for tests, in a temporary directory, on a free port of 127.0.0.1.
#
#   hack/postgres.sh start DIR     initdb DIR, start the server, print its DSN on stdout
#   hack/postgres.sh stop DIR      stop it (immediate: nothing in it is worth keeping) and remove DIR
#   hack/postgres.sh halt DIR      stop it as a crash would (pg_ctl stop -m immediate), keeping DIR
#   hack/postgres.sh resume DIR    start a halted server again, on the same port
#   hack/postgres.sh run CMD...    start one in a fresh directory, run CMD with MMELINK_TEST_PG_DSN set,
#                                  stop it, exit with CMD's status
#
# PostgreSQL refuses to run as root; as root, the server runs as the `postgres` user (created by Debian's
# package) or, failing that, as nobody. The binaries are Debian's (/usr/lib/postgresql/N/bin) or PG_BIN.
set -euo pipefail

pg_bin() {
	if [[ -n "${PG_BIN:-}" ]]; then echo "$PG_BIN"; return; fi
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
	if [[ -z "$d" || ! -x "$d/initdb" ]]; then
		echo "postgres.sh: no PostgreSQL found (apt-get install -y postgresql, or set PG_BIN)" >&2
		exit 1
	fi
	echo "$d"
}

# as runs a command as the server's user.
as() {
	if [[ $(id -u) -ne 0 ]]; then "$@"; return; fi
	local user=postgres
	id -u "$user" >/dev/null 2>&1 || user=nobody
	runuser -u "$user" -- "$@"
}

owner() {
	if [[ $(id -u) -ne 0 ]]; then return; fi
	if id -u postgres >/dev/null 2>&1; then chown -R postgres: "$1"; else chown -R nobody: "$1"; fi
}

# free_port picks a port below the kernel's ephemeral range: a halted server's port must still be free when
# it is resumed, and a port in that range can meanwhile become the local end of any outgoing connection (the
# tests' clients make thousands while it is down), which makes the restart fail with "Address already in use".
free_port() {
	local p low=32768 high first=10000 span
	if [[ -r /proc/sys/net/ipv4/ip_local_port_range ]]; then
		read -r low high </proc/sys/net/ipv4/ip_local_port_range
	fi
	span=$((low - first))
	if ((span < 1000)); then
		first=$((high + 1)) span=$((65535 - high))
	fi
	if ((span < 1000)); then
		echo "postgres.sh: no port range outside the ephemeral one ($low-$high)" >&2
		exit 1
	fi
	for _ in $(seq 1 50); do
		p=$((first + RANDOM % span))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
	done
	echo "postgres.sh: no free port found" >&2
	exit 1
}

start() {
	local dir=$1 bin port
	bin=$(pg_bin)
	mkdir -p "$dir/sock"
	owner "$dir"
	as "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		if as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start -o "$(server_opts "$dir" "$port")" \
			>/dev/null 2>&1; then
			echo "$port" >"$dir/port"
			echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
			return
		fi
	done
	cat "$dir/server.log" >&2
	exit 1
}

stop() {
	local dir=$1 bin
	bin=$(pg_bin)
	if [[ -f "$dir/data/postmaster.pid" ]]; then
		as "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
}

server_opts() {
	# fsync stays on: the outage tests stop the server with -m immediate and count on durability.
	echo "-c listen_addresses=127.0.0.1 -p $2 -k $1/sock -c max_connections=200 -c shared_buffers=64MB"
}

halt() { as "$(pg_bin)/pg_ctl" -D "$1/data" -m immediate -w stop >/dev/null; }

# resume starts a halted server on its port again. While it was down another process may have taken the
# port for a moment (tests pick free ports too): try again for up to 15 s, and say why when it never starts.
resume() {
	local port
	port=$(cat "$1/port")
	for _ in $(seq 1 30); do
		if as "$(pg_bin)/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 30 start -o "$(server_opts "$1" "$port")" >/dev/null 2>&1; then
			return
		fi
		sleep 0.5
	done
	echo "postgres.sh: the server did not start again on port $port; the end of its log:" >&2
	tail -20 "$1/server.log" >&2
	exit 1
}

case "${1:-}" in
start) start "$2" ;;
halt) halt "$2" ;;
resume) resume "$2" ;;
stop) stop "$2" ;;
run)
	shift
	dir=$(mktemp -d "${TMPDIR:-/tmp}/mmelink-pg.XXXXXX")
	trap 'stop "$dir"' EXIT
	MMELINK_TEST_PG_DSN=$(start "$dir")
	export MMELINK_TEST_PG_DSN MMELINK_TEST_PG_DIR="$dir"
	"$@"
	;;
*)
	echo "usage: $0 start DIR | stop DIR | run CMD..." >&2
	exit 2
	;;
esac
