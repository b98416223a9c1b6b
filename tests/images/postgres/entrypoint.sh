#!/bin/bash
# First start: initdb with POSTGRES_USER/POSTGRES_PASSWORD, create POSTGRES_DB, accept password
# logins from the network; then run the server in the foreground as the postgres user.
set -euo pipefail
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD (the official image requires it too)}"
    install -d -o postgres -g postgres -m 700 "$PGDATA"
    pwfile=$(mktemp) && printf '%s' "$POSTGRES_PASSWORD" >"$pwfile" && chown postgres "$pwfile"
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is split into arguments, as officially
    runuser -u postgres -- initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" ${POSTGRES_INITDB_ARGS:-} \
        --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [ "$db" != postgres ]; then
        echo "CREATE DATABASE \"$db\" OWNER \"$user\"" |
            runuser -u postgres -- postgres --single -D "$PGDATA" postgres >/dev/null
    fi
fi
if [ "$1" = postgres ]; then
    shift
    # setpriv execs (runuser would stay as PID 1 and not pass docker stop's signal on)
    exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" -c listen_addresses='*' "$@"
fi
exec "$@"
