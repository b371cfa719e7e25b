#!/usr/bin/env bash
# PostgreSQL (Debian's package) for the Airflow scheduler test (tests/integration/test_airflow_scheduler.py:
# tests/servers/postgres.py runs initdb and postgres from /usr/lib/postgresql/<major>/bin in a temporary folder).
# Idempotent: does nothing when a server binary is installed there. Installs Debian's `postgresql` with apt-get
# when it can (root, or passwordless sudo); otherwise prints how and exits 0, so that test skips itself.
# Before installing it tells postgresql-common not to create (and start) the package's default `main` cluster:
# the tests start their own server on loopback and nothing else should run.
set -euo pipefail

have_server() { compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null && compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }

if have_server; then
  exit 0
fi
packages="postgresql"
if [ "$(id -u)" = 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo="sudo -n"
else
  echo "ensure_postgres: PostgreSQL missing and no root: apt-get install -y $packages" \
       "(the Airflow scheduler test will be skipped)" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_postgres: no apt-get here; install PostgreSQL by hand (the Airflow scheduler test will be skipped)" >&2
  exit 0
fi
echo "ensure_postgres: installing $packages (Debian packages, once)"
export DEBIAN_FRONTEND=noninteractive
$sudo mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.d/tagfactory-tests.conf >/dev/null
# a fresh container has no package lists yet
if ! $sudo apt-get install -y --no-install-recommends $packages >/tmp/ensure_postgres.log 2>&1; then
  $sudo apt-get update -qq >>/tmp/ensure_postgres.log 2>&1
  $sudo apt-get install -y --no-install-recommends $packages >>/tmp/ensure_postgres.log 2>&1 \
    || { tail -n 20 /tmp/ensure_postgres.log >&2; echo "ensure_postgres: install FAILED (log /tmp/ensure_postgres.log)" >&2; exit 1; }
fi
have_server || { echo "ensure_postgres: installed $packages but found no /usr/lib/postgresql/*/bin/postgres" >&2; exit 1; }
ls -d /usr/lib/postgresql/*/bin/postgres
