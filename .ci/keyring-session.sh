#!/usr/bin/env bash
# Run a command inside a private D-Bus session that has an unlocked GNOME Keyring, so keyring's
# Secret Service backend has a real daemon to talk to on a headless box (CI, a container, SSH):
#
#   bash .ci/keyring-session.sh /tmp/venv/bin/python -m pytest tests/secrets -m keyring_backend
#
# Run as root on Debian/Ubuntu, it first installs gnome-keyring, dbus, dbus-x11 and libsecret-1-0
# when they are missing. When that is impossible it says why and runs the command anyway: the
# keyring_backend tests then skip, naming what is missing. The keyring lives in a throwaway
# directory, so a developer's own login keyring is never read or changed.
set -uo pipefail

say() { echo "keyring-session: $*" >&2; }

if [ $# -eq 0 ]; then
    echo "usage: bash $0 COMMAND [ARG...]" >&2
    exit 2
fi

install_missing() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        say "not a Debian-like system: install gnome-keyring and dbus yourself"
        return
    fi
    local pkgs=() p
    for p in gnome-keyring dbus dbus-x11 libsecret-1-0; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || pkgs+=("$p")
    done
    [ ${#pkgs[@]} -eq 0 ] && return
    if [ "$(id -u)" -ne 0 ]; then
        say "missing ${pkgs[*]} and not root, so not installing them"
        return
    fi
    local log
    log=$(mktemp)
    export DEBIAN_FRONTEND=noninteractive
    # Try without `apt-get update` first (fast, offline-friendly); a fresh container needs it.
    if ! apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >"$log" 2>&1 &&
       ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${pkgs[@]}"; } >"$log" 2>&1; then
        say "apt-get could not install ${pkgs[*]}:"
        tail -n 5 "$log" | sed 's/^/    /' >&2
        say "continuing without them; keyring tests will skip"
    fi
    rm -f "$log"
}

install_missing

if ! command -v dbus-run-session >/dev/null 2>&1 || ! command -v gnome-keyring-daemon >/dev/null 2>&1; then
    say "dbus-run-session or gnome-keyring-daemon not found; running the command without a keyring"
    exec "$@"
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# gnome-keyring keeps keyrings in $XDG_DATA_HOME/keyrings and its sockets in $XDG_RUNTIME_DIR.
export XDG_DATA_HOME="$scratch/data" XDG_RUNTIME_DIR="$scratch/run"
mkdir -p "$XDG_DATA_HOME" && mkdir -m 700 "$XDG_RUNTIME_DIR"

dbus-run-session -- sh -c '
    # --unlock starts the daemon and creates the "login" keyring with this password, unlocked;
    # --start then registers its Secret Service on this session bus and prints the variables
    # clients need (GNOME_KEYRING_CONTROL, ...).
    if out=$(printf %s pass | gnome-keyring-daemon --unlock --components=secrets 2>/dev/null) &&
       eval "$out" && out=$(gnome-keyring-daemon --start --components=secrets 2>/dev/null) && eval "$out"; then
        export GNOME_KEYRING_CONTROL
    else
        echo "keyring-session: gnome-keyring-daemon did not start; keyring tests will skip" >&2
    fi
    exec "$@"
' keyring-session "$@"
