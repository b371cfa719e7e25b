# Sourced by tests/servers/ensure_*.sh: install Debian packages once, when this user can.
#
#   apt_install NAME SKIPPED ON_FAILURE PACKAGE...
#
# Installs PACKAGE... with apt-get (as root, or with passwordless sudo), running `apt-get update` first
# only when the install fails without it (a fresh container has no package lists yet); output goes to
# /tmp/NAME.log. Without root or apt-get it prints how and exits the script with 0, so the tests that
# need the packages skip themselves (SKIPPED says which). A failed install exits with ON_FAILURE.
# A function `before_install SUDO`, when the script defines one, runs just before apt-get.
apt_install() {
  local name=$1 skipped=$2 on_failure=$3 sudo log
  shift 3
  local packages="$*"
  log="/tmp/$name.log"
  if [ "$(id -u)" = 0 ]; then
    sudo=""
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  else
    echo "$name: $packages missing and no root: apt-get install -y $packages ($skipped)" >&2
    exit 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$name: no apt-get here; install $packages by hand ($skipped)" >&2
    exit 0
  fi
  echo "$name: installing $packages (Debian packages, once)"
  export DEBIAN_FRONTEND=noninteractive
  if declare -F before_install >/dev/null; then
    before_install "$sudo"
  fi
  # shellcheck disable=SC2086  # $sudo and $packages are word lists
  if ! $sudo apt-get install -y --no-install-recommends $packages >"$log" 2>&1; then
    $sudo apt-get update -qq >>"$log" 2>&1
    $sudo apt-get install -y --no-install-recommends $packages >>"$log" 2>&1 \
      || { tail -n 20 "$log" >&2; echo "$name: install FAILED (log $log)" >&2; exit "$on_failure"; }
  fi
}
