#!/usr/bin/env bash
# PostgreSQL (Debian's package) for the Airflow scheduler test (tests/integration/test_airflow_scheduler.py:
# tests/servers/postgres.py runs initdb and postgres from /usr/lib/postgresql/<major>/bin in a temporary folder).
# Idempotent: does nothing when a server binary is installed there. Installs Debian's `postgresql` with apt-get
# when it can (root, or passwordless sudo: tests/servers/apt_install.sh); otherwise prints how and exits 0, so
# that test skips itself; a failed install fails. Before installing it tells postgresql-common not to create
# (and start) the package's default `main` cluster: the tests start their own server on loopback and nothing
# else should run.
set -euo pipefail
# shellcheck source=tests/servers/apt_install.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt_install.sh"

have_server() { compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null && compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }

before_install() {
  local sudo=$1
  $sudo mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.d/tagfactory-tests.conf >/dev/null
}

if have_server; then
  exit 0
fi
apt_install ensure_postgres "the Airflow scheduler test will be skipped" 1 postgresql
have_server || { echo "ensure_postgres: installed postgresql but found no /usr/lib/postgresql/*/bin/postgres" >&2; exit 1; }
ls -d /usr/lib/postgresql/*/bin/postgres
