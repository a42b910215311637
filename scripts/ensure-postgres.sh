#!/usr/bin/env bash
# Make sure the local PostgreSQL server answers on 127.0.0.1:5432 (tests use it); start it if not.
set -u
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || (command -v psql >/dev/null && psql -h 127.0.0.1 -U postgres -c 'select 1' -qtA >/dev/null 2>&1); }
if ready; then exit 0; fi
if ! ls /etc/postgresql >/dev/null 2>&1; then
  echo "ensure-postgres: PostgreSQL is not installed (no /etc/postgresql); tests need it on 127.0.0.1:5432" >&2
  exit 1
fi
echo "ensure-postgres: starting PostgreSQL"
pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
for _ in $(seq 1 30); do ready && exit 0; sleep 1; done
echo "ensure-postgres: PostgreSQL did not come up on 127.0.0.1:5432" >&2
exit 1
