#!/usr/bin/env bash
# uv for this project. `tools/uv.sh ARGS...` runs `uv ARGS...`, installing uv first if it is
# missing; `tools/uv.sh --install-only` only makes sure uv is there and prints the command.
# The Makefile calls uv through this script, so uv is looked up each time a recipe runs
# (after `make setup` may have installed it), not once when make parses the Makefile.
#
# Where uv comes from, the first that works:
#   1. a uv already installed: on PATH, in .tools/ (an earlier run of this script), in
#      ~/.local/bin or ~/.cargo/bin (uv's installer, pipx), or as a module of python3;
#   2. `pip install uv` inside a virtual environment made by `python3 -m venv .tools/uv-venv`:
#      this works with Debian's and Ubuntu's system Python, which refuses a plain
#      `pip install` (PEP 668, "externally-managed-environment");
#   3. `pipx install uv`, with pipx's files kept in .tools/ as well;
#   otherwise it says how to install uv and exits with status 1.
# All it installs is in .tools/ (git-ignored); `rm -rf .tools` undoes it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
venv="$tools/uv-venv"
log="$tools/uv-install.log"
UV=()
tried=()

say() { printf '%s\n' "$*" >&2; }
works() { "$@" --version >/dev/null 2>&1; }
last_lines() { grep -v '^[[:space:]]*$' "$log" 2>/dev/null | tail -n 8 | sed 's/^/      /' || true; }

find_uv() {
    local c
    for c in "$(command -v uv 2>/dev/null || true)" "$venv/bin/uv" "$tools/bin/uv" \
             ${HOME:+"$HOME/.local/bin/uv" "$HOME/.cargo/bin/uv"}; do
        if [ -n "$c" ] && [ -x "$c" ] && works "$c"; then UV=("$c"); return 0; fi
    done
    if command -v python3 >/dev/null 2>&1 && works python3 -m uv; then
        UV=(python3 -m uv); return 0
    fi
    tried+=("uv is not on PATH, nor a module of python3")
    return 1
}

install_with_venv() {
    if ! command -v python3 >/dev/null 2>&1; then
        tried+=("python3 is not on PATH"); return 1
    fi
    say "Installing uv into .tools/uv-venv (python3 -m venv, then pip install uv) ..."
    rm -rf "$venv" && mkdir -p "$tools"
    if ! python3 -m venv "$venv" >"$log" 2>&1; then
        tried+=("python3 -m venv .tools/uv-venv failed; it said:"$'\n'"$(last_lines)")
        rm -rf "$venv"; return 1
    fi
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check uv >>"$log" 2>&1 \
            || ! works "$venv/bin/uv"; then
        tried+=("pip install uv in .tools/uv-venv failed (network? see .tools/uv-install.log):"$'\n'"$(last_lines)")
        rm -rf "$venv"; return 1
    fi
    rm -f "$log"
    UV=("$venv/bin/uv")
}

install_with_pipx() {
    if ! command -v pipx >/dev/null 2>&1; then
        tried+=("pipx is not on PATH"); return 1
    fi
    say "Installing uv with pipx into .tools/ ..."
    mkdir -p "$tools"
    if ! PIPX_HOME="$tools/pipx" PIPX_BIN_DIR="$tools/bin" PIPX_MAN_DIR="$tools/man" \
            pipx install uv >"$log" 2>&1 || ! works "$tools/bin/uv"; then
        tried+=("pipx install uv failed (see .tools/uv-install.log):"$'\n'"$(last_lines)")
        return 1
    fi
    rm -f "$log"
    UV=("$tools/bin/uv")
}

give_up() {
    say "error: uv (https://docs.astral.sh/uv/) is needed to install this project's environment,"
    say "and it could not be found or installed:"
    local t
    for t in "${tried[@]}"; do [ -n "$t" ] && say "  - $t"; done
    say "Install uv in one of these ways, then run the command again:"
    say "  * uv's standalone installer, see https://docs.astral.sh/uv/getting-started/installation/"
    say "      curl -LsSf https://astral.sh/uv/install.sh | sh"
    say "  * on Debian/Ubuntu, let python3 make virtual environments (this script then installs"
    say "    uv into .tools/uv-venv by itself):"
    say "      sudo apt install python3-venv"
    say "  * with pipx (on Debian/Ubuntu: sudo apt install pipx):"
    say "      pipx install uv"
    exit 1
}

install_only=0
if [ "${1:-}" = "--install-only" ]; then install_only=1; shift; fi

find_uv || install_with_venv || install_with_pipx || give_up

if [ "$install_only" = 1 ]; then
    printf '%s\n' "${UV[*]}"
    exit 0
fi
exec "${UV[@]}" "$@"
