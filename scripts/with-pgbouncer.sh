#!/usr/bin/env bash
# Run a command with a real PgBouncer, in transaction mode, in front of a PostgreSQL server:
#   scripts/with-pgbouncer.sh postgresql://postgres@127.0.0.1:5432/postgres make test-services
# The command gets TEST_DATABASE_URL pointing at PgBouncer (same user and database) and
# DATABASE_PREPARED_STATEMENTS=false, which transaction pooling requires. PgBouncer routes
# every database name to the server, so the suite's throwaway databases work through it.
#
# PgBouncer comes from Debian's package (installed with apt when missing and run as root).
# It refuses to run as root, so as root it runs as the postgres user.
set -euo pipefail
SERVER_URL=${1:?usage: with-pgbouncer.sh POSTGRESQL_URL COMMAND...}
shift

if ! command -v pgbouncer >/dev/null; then
  if ((EUID == 0)); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
  else
    echo "pgbouncer is missing: sudo apt-get install pgbouncer" >&2
    exit 1
  fi
fi

read -r SERVER_HOST SERVER_PORT USER_NAME <<<"$(python3 -c '
import sys; from urllib.parse import urlsplit
u = urlsplit(sys.argv[1]); print(u.hostname or "127.0.0.1", u.port or 5432, u.username or "postgres")
' "$SERVER_URL")"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RUN_AS=()
((EUID == 0)) && RUN_AS=(runuser -u postgres --)

DIR=$(mktemp -d "${TMPDIR:-/tmp}/pgbouncer.XXXXXX")
# The server's own authentication applies (trust on the CI machine); PgBouncer only needs
# to know the user name.
printf '"%s" ""\n' "$USER_NAME" >"$DIR/userlist.txt"
cat >"$DIR/pgbouncer.ini" <<EOF
[databases]
* = host=$SERVER_HOST port=$SERVER_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
auth_type = trust
auth_file = $DIR/userlist.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 1000
logfile = $DIR/pgbouncer.log
pidfile = $DIR/pgbouncer.pid
EOF
((EUID == 0)) && chown -R postgres "$DIR"

stop() {
  if [[ -s $DIR/pgbouncer.pid ]]; then kill "$(cat "$DIR/pgbouncer.pid")" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap stop EXIT

"${RUN_AS[@]}" pgbouncer --daemon "$DIR/pgbouncer.ini"
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done
echo "== PgBouncer $(pgbouncer --version | head -n 1 | cut -d' ' -f2) (transaction mode) on 127.0.0.1:$PORT -> $SERVER_HOST:$SERVER_PORT"

TEST_DATABASE_URL=$(python3 -c '
import sys; from urllib.parse import urlsplit, urlunsplit
u = urlsplit(sys.argv[1]); host = u.netloc.rsplit("@", 1)
auth = host[0] + "@" if len(host) == 2 else ""
print(urlunsplit(u._replace(netloc=f"{auth}127.0.0.1:{sys.argv[2]}")))
' "$SERVER_URL" "$PORT")
export TEST_DATABASE_URL DATABASE_PREPARED_STATEMENTS=false TEST_PGBOUNCER=1
status=0
"$@" || status=$?
if ((status)); then tail -n 20 "$DIR/pgbouncer.log" >&2; fi
exit "$status"
