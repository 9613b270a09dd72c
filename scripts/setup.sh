#!/usr/bin/env bash
# Sets up gangway's two Python environments and its Rasa model. Called by the Makefile;
# each step can also be run on its own from anywhere in the repository:
#
#   scripts/setup.sh install      both virtual environments (service, then Rasa)
#   scripts/setup.sh service      .venv:      Python >= 3.11, locks/service-dev.txt, then
#                                 the project itself (editable, without dependencies)
#   scripts/setup.sh rasa         .venv-rasa: Python 3.10,   locks/rasa.txt
#   scripts/setup.sh lock [--upgrade]
#                                 write locks/ again with uv from pyproject.toml and
#                                 bot/rasa/requirements.txt; keeps every pin it can unless
#                                 --upgrade
#   scripts/setup.sh installer    print what the installs would use (uv or pip), and why
#   scripts/setup.sh model        train the Rasa model, only when bot/rasa/ or data/ changed,
#                                 and the sensitivity model, only when data/sensitivity/ or
#                                 its training code changed
#   scripts/setup.sh chromium     Debian's chromium for the browser tests (installed when root)
#   scripts/setup.sh graphviz     Debian's graphviz, whose `dot` draws the statechart (when root)
#   scripts/setup.sh rasa-python  print the Python 3.10 that .venv-rasa would be made with
#   scripts/setup.sh clean        remove var/, .venv and .venv-rasa
#
# Both environments are installed from the lock files under locks/, which pin every
# package with its hashes (`--require-hashes`), so every install gets the same files. The
# installer is uv when it can be had: uv on PATH, else the one in var/tools/, else one
# installed there first from locks/uv.txt (a few seconds; it then installs Rasa's
# environment several times faster than pip). INSTALLER=pip (environment or .env) uses
# pip instead, and so does a failed uv install, with a warning. `python -m bot.lockfiles
# check` then makes sure the locks still pin what pyproject.toml and
# bot/rasa/requirements.txt ask for, and stops with "run `make lock`" when they do not.
#
# An install runs only when its inputs changed: each venv keeps a stamp file holding a
# hash of its lock file (the service's: and of pyproject.toml, for the project's own
# entry points) and of its Python version. Downloads are cached by uv (~/.cache/uv)
# or pip (~/.cache/pip).
#
# Python 3.10 for Rasa is looked for, in this order: $RASA_PYTHON (from the environment
# or a RASA_PYTHON=... line in .env), python3.10 on PATH, pyenv's installed 3.10.x
# versions, `uv python find 3.10`; only when .venv-rasa is missing or its Python no longer
# runs (a working venv is kept, and so is .venv).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd -P)

VENV=.venv
RASA_VENV=.venv-rasa
RASA_REQUIREMENTS=bot/rasa/requirements.txt
# What each environment is installed from; written by `make lock`.
SERVICE_LOCK=locks/service-dev.txt
RUNTIME_LOCK=locks/service.txt
RASA_LOCK=locks/rasa.txt
UV_LOCK=locks/uv.txt
UV_INPUT=locks/uv.in
TOOLS_VENV=var/tools
# uv never downloads a Python of its own: each step names the interpreter to use, and
# where uv would look for one (a lock for Python 3.10, say) it would otherwise spend
# half a minute retrying on a machine that reaches only the package registry.
export UV_PYTHON_DOWNLOADS=never
# Rasa's lock is resolved for the machines that run it: Linux on x86_64 (developers, CI,
# the container image). TensorFlow 2.12 comes in other packages elsewhere (macOS, ARM).
RASA_PLATFORM=x86_64-manylinux_2_28
STAMP=.gangway-install-stamp
# Bump to make every developer's next `make` reinstall both environments.
SETUP_VERSION=1

# Each step's banner shows the time since `make` started (the Makefile exports
# SETUP_STARTED), so a long install or training shows where it is.
say() {
    if [ -n "${SETUP_STARTED:-}" ]; then
        printf '==> [%s] %s\n' "$(duration $(($(date +%s) - SETUP_STARTED)))" "$*"
    else
        printf '==> %s\n' "$*"
    fi
}
note() { printf '    %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf '\nerror: %s\n' "$1" >&2
    shift
    local line
    for line in "$@"; do printf '       %s\n' "$line" >&2; done
    exit 1
}

# "1m32s" for a duration in seconds.
duration() {
    local s=$1
    if [ "$s" -ge 60 ]; then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}

# Runs an interpreter and tells whether it is usable: prints its real path and version.
# $2: "3.10" (exactly) or "3.11+" (at least); $3: "base" also requires venv support.
# Exit 3: wrong version; 4: cannot create virtual environments; other: does not run.
PROBE='
import sys
want, kind = sys.argv[1], sys.argv[2]
minor = sys.version_info[:2]
if not (minor == (3, 10) if want == "3.10" else minor >= (3, 11)):
    sys.exit(3)
if kind == "base":
    try:
        import ensurepip, venv
    except ImportError:
        sys.exit(4)
print(sys.executable)
print("%d.%d.%d" % tuple(sys.version_info[:3]))
'
PY_EXE=
PY_VERSION=
PY_WHY=
probe() {
    local out rc=0
    if ! command -v "$1" >/dev/null 2>&1; then
        PY_WHY="there is no $1"
        return 1
    fi
    out=$("$1" -c "$PROBE" "$2" "$3" 2>/dev/null) || rc=$?
    case $rc in
        0)
            PY_EXE=$(printf '%s\n' "$out" | sed -n 1p)
            PY_VERSION=$(printf '%s\n' "$out" | sed -n 2p)
            return 0
            ;;
        3) PY_WHY="it is Python $("$1" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null)" ;;
        4) PY_WHY="it cannot create virtual environments (Debian/Ubuntu: install its -venv package)" ;;
        *) PY_WHY="it does not run: $("$1" --version 2>&1 | head -n 1)" ;;
    esac
    return 1
}

# A line of .env, KEY=VALUE (optionally "export KEY=...", quoted or not); empty if absent.
dotenv_value() {
    [ -f .env ] || return 0
    sed -n -e "s/^[[:space:]]*\(export[[:space:]][[:space:]]*\)\{0,1\}$1[[:space:]]*=[[:space:]]*//p" .env |
        tail -n 1 | tr -d '\r' | sed -e 's/[[:space:]]*$//' -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/"
}

find_service_python() {
    local cand tried=()
    for cand in python3.11 python3; do
        if ! command -v "$cand" >/dev/null 2>&1; then
            tried+=("$cand: not on PATH")
        elif probe "$cand" 3.11+ base; then
            return 0
        else
            tried+=("$cand ($(command -v "$cand")): $PY_WHY")
        fi
    done
    die "the gangway service needs Python 3.11 or newer, and none was found." \
        "Tried:" "${tried[@]/#/  }" \
        "Install it with \`pyenv install 3.11\` or your package manager (Debian/Ubuntu:" \
        "python3.11 and python3.11-venv), so that \`python3.11\` is on PATH."
}

find_rasa_python() {
    local cand tried=() root versions

    # 1. RASA_PYTHON, from the environment or else .env: must work if given.
    local from=environment rasa_python=${RASA_PYTHON:-}
    if [ -z "$rasa_python" ]; then
        rasa_python=$(dotenv_value RASA_PYTHON)
        from=.env
    fi
    if [ -n "$rasa_python" ]; then
        # shellcheck disable=SC2088 # a literal "~/" written in .env
        case $rasa_python in "~/"*) rasa_python=$HOME/${rasa_python#"~/"} ;; esac
        if ! command -v "$rasa_python" >/dev/null 2>&1; then
            die "RASA_PYTHON=$rasa_python (from the $from) does not exist." \
                "Point it at a Python 3.10 interpreter, or unset it to let the set-up look for one."
        fi
        probe "$rasa_python" 3.10 base ||
            die "RASA_PYTHON=$rasa_python (from the $from) cannot be used: $PY_WHY." \
                "Rasa 3.6 needs Python 3.10: point RASA_PYTHON at a Python 3.10 interpreter."
        note "using RASA_PYTHON from the $from"
        return 0
    fi
    tried+=("RASA_PYTHON: not set (environment or .env)")

    # 2. python3.10 on PATH, run for real: a pyenv shim may be there without a 3.10 to run.
    if command -v python3.10 >/dev/null 2>&1; then
        probe python3.10 3.10 base && return 0
        tried+=("python3.10 on PATH ($(command -v python3.10)): $PY_WHY")
    else
        tried+=("python3.10: not on PATH")
    fi

    # 3. pyenv's installed versions, the highest 3.10.x first.
    if command -v pyenv >/dev/null 2>&1; then
        root=$(pyenv root 2>/dev/null || true)
    else
        root=${PYENV_ROOT:-$HOME/.pyenv}
    fi
    if [ -n "$root" ] && [ -d "$root/versions" ]; then
        versions=$(
            for cand in "$root"/versions/3.10.*; do
                if [ -d "$cand" ]; then printf '%s\n' "${cand##*/}"; fi
            done | sort -t. -k3,3nr
        )
        for cand in $versions; do
            if [ -x "$root/versions/$cand/bin/python3.10" ]; then
                probe "$root/versions/$cand/bin/python3.10" 3.10 base && return 0
                tried+=("pyenv $cand: $PY_WHY")
            fi
        done
        [ -n "$versions" ] || tried+=("pyenv ($root): no 3.10.x installed")
    else
        tried+=("pyenv: not installed")
    fi

    # 4. uv's managed or discovered interpreters.
    if command -v uv >/dev/null 2>&1; then
        if cand=$(uv python find 3.10 2>/dev/null) && [ -n "$cand" ]; then
            probe "$cand" 3.10 base && return 0
            tried+=("uv python find 3.10 ($cand): $PY_WHY")
        else
            tried+=("uv python find 3.10: none")
        fi
    else
        tried+=("uv: not installed")
    fi

    die "Rasa 3.6 needs Python 3.10, and none was found." \
        "Tried:" "${tried[@]/#/  }" \
        "Install it with \`pyenv install 3.10\` or your package manager (Debian/Ubuntu:" \
        "python3.10 and python3.10-venv), or point RASA_PYTHON at it (in the environment" \
        "or as a RASA_PYTHON=/path/to/python3.10 line in .env)."
}

# pip, without this machine's hundreds of "Location ... is ignored" lines. Real warnings
# and errors stay visible, and so do pip's lines per package (Collecting, Downloading,
# Installing); pip's exit status is kept (pipefail).
pip_install() {
    local venv=$1
    shift
    PYTHONUNBUFFERED=1 "$venv/bin/python" -m pip install --progress-bar off "$@" 2>&1 |
        awk '!/^WARNING: Location .* is ignored/ { print; fflush() }'
}

# The installer setting: INSTALLER from the environment, else from .env; "auto" if unset.
installer_setting() {
    local value=${INSTALLER:-}
    [ -n "$value" ] || value=$(dotenv_value INSTALLER)
    case ${value:-auto} in
        auto | uv | pip) printf '%s\n' "${value:-auto}" ;;
        *) die "INSTALLER=$value is not an installer." "Use INSTALLER=uv or INSTALLER=pip, or leave it unset (uv when it can be had, else pip)." ;;
    esac
}

# Which installer an install would use, without installing anything: "pip"
# (INSTALLER=pip, unless $1 is "lock": only uv writes the locks), "path" (uv on PATH),
# "tools" (var/tools' uv, installed from the current locks/uv.txt) or "new" (uv to be
# installed into var/tools first).
installer_choice() {
    local setting
    setting=$(installer_setting) || exit 1
    if [ "$setting" = pip ] && [ "${1:-}" != lock ]; then
        echo pip
    elif command -v uv >/dev/null 2>&1 && "$(command -v uv)" --version >/dev/null 2>&1; then
        echo path
    elif [ -x "$TOOLS_VENV/bin/uv" ] && cmp -s "$(tools_input)" "$TOOLS_VENV/$STAMP"; then
        echo tools
    else
        echo new
    fi
}

# Sets UV to the uv to install with, or to nothing for pip; $1 as for installer_choice.
UV=
find_uv() {
    local need=${1:-} choice start=$SECONDS exe=$PY_EXE version=$PY_VERSION ok=0
    choice=$(installer_choice "$need") || exit 1
    UV=
    case $choice in
        pip)
            note "installer: pip (INSTALLER=pip)"
            return 0
            ;;
        path)
            UV=$(command -v uv)
            note "installer: $("$UV" --version) ($UV, on PATH)"
            return 0
            ;;
        tools)
            UV=$ROOT/$TOOLS_VENV/bin/uv
            note "installer: $("$UV" --version) ($TOOLS_VENV/bin/uv)"
            return 0
            ;;
    esac
    say "installing uv into $TOOLS_VENV (used by every install after this one)"
    install_uv || ok=$?
    # Finding a Python for var/tools must not change the one the caller is installing.
    PY_EXE=$exe
    PY_VERSION=$version
    if [ $ok = 0 ]; then
        UV=$ROOT/$TOOLS_VENV/bin/uv
        note "installer: $("$UV" --version) ($TOOLS_VENV/bin/uv, installed in $(duration $((SECONDS - start))))"
        return 0
    fi
    if [ "$need" = lock ] || [ "$(installer_setting)" = uv ]; then
        die "uv could not be installed into $TOOLS_VENV (see pip's messages above)." \
            "Install uv yourself so that it is on PATH (\`pip install -r $UV_INPUT\`), then run this again."
    fi
    warn "uv could not be installed (see above): installing with pip instead, which is slower."
}

# What `make install` would install with, without installing anything.
cmd_installer() {
    local choice
    choice=$(installer_choice) || exit 1
    case $choice in
        pip) echo "pip (INSTALLER=pip)" ;;
        path) echo "uv on PATH ($(command -v uv))" ;;
        tools) echo "uv in $TOOLS_VENV" ;;
        new) echo "uv, installed into $TOOLS_VENV first (pip if that fails)" ;;
    esac
}

# What var/tools' uv is installed from: locks/uv.txt, or locks/uv.in before the first
# `make lock`. Its stamp is a copy of that file.
tools_input() {
    if [ -f "$UV_LOCK" ]; then echo "$UV_LOCK"; else echo "$UV_INPUT"; fi
}

# A small venv holding only uv, installed with pip from locks/uv.txt (hashes checked).
install_uv() {
    find_service_python
    rm -rf "$TOOLS_VENV"
    mkdir -p "$(dirname "$TOOLS_VENV")"
    "$PY_EXE" -m venv "$TOOLS_VENV" || return 1
    if [ -f "$UV_LOCK" ]; then
        pip_install "$TOOLS_VENV" --require-hashes -r "$UV_LOCK" || return 1
    else
        pip_install "$TOOLS_VENV" -r "$UV_INPUT" || return 1
    fi
    "$TOOLS_VENV/bin/uv" --version >/dev/null || return 1
    cp "$(tools_input)" "$TOOLS_VENV/$STAMP"
}

# install_lock VENV LOCK [PROJECT]: makes VENV hold exactly what LOCK pins (uv pip sync;
# pip installs them, and removes nothing), hashes checked, then PROJECT (the service:
# ".") editable without its dependencies, which the lock already holds.
install_lock() {
    local venv=$1 lock=$2 project=${3:-}
    if [ -n "$UV" ]; then
        note "uv pip sync --require-hashes $lock (Python $PY_VERSION)"
        "$UV" pip sync --python "$venv/bin/python" --require-hashes "$lock" || return 1
        if [ -n "$project" ]; then
            note "uv pip install --no-deps -e $project"
            "$UV" pip install --python "$venv/bin/python" --no-deps -e "$project" || return 1
        fi
    else
        note "pip install --require-hashes -r $lock (Python $PY_VERSION)"
        pip_install "$venv" --require-hashes -r "$lock" || return 1
        if [ -n "$project" ]; then
            note "pip install --no-deps -e $project"
            pip_install "$venv" --no-deps -e "$project" || return 1
        fi
    fi
}

# ensure_venv DIR LABEL WANT LOCK [PROJECT]: makes DIR with a Python matching WANT
# ("3.10" or "3.11+") unless it has a working one, then installs LOCK (and PROJECT, see
# install_lock) unless the stamp says they and the Python version are unchanged since
# the last install.
ensure_venv() {
    local venv=$1 label=$2 want=$3 lock=$4 project=${5:-}
    local start=$SECONDS why inputs=("$lock")
    case $project in
        "") ;;
        .) inputs+=(pyproject.toml) ;;
        *) inputs+=("$project/pyproject.toml") ;;
    esac

    [ -f "$lock" ] || die "$lock is missing." "Run \`make lock\` to write it, and commit it."
    if probe "$venv/bin/python" "$want" venv; then
        if [ "$(venv_stamp "$venv" "${inputs[@]}")" = "$(cat "$venv/$STAMP" 2>/dev/null || true)" ]; then
            say "$label environment ($venv) up to date: ${inputs[*]} and Python $PY_VERSION unchanged (install skipped)"
            return 0
        fi
        say "installing $label environment ($venv): ${inputs[*]} or Python changed since the last install"
    elif [ -e "$venv" ]; then
        why=$PY_WHY
        say "installing $label environment ($venv)"
        note "the existing $venv is unusable ($why): making it again"
        rm -rf "$venv"
    else
        say "installing $label environment ($venv)"
    fi

    if [ ! -e "$venv" ]; then
        if [ "$want" = 3.10 ]; then find_rasa_python; else find_service_python; fi
        note "creating $venv with Python $PY_VERSION ($PY_EXE)"
        "$PY_EXE" -m venv "$venv"
        probe "$venv/bin/python" "$want" venv || die "the new $venv does not work: $PY_WHY."
    fi

    rm -f "$venv/$STAMP"
    find_uv
    install_lock "$venv" "$lock" "$project" || die "the $label environment ($venv) could not be installed from $lock." \
        "See the installer's messages above; fix the cause, then run \`make install\` again."
    venv_stamp "$venv" "${inputs[@]}" >"$venv/$STAMP"
    say "$label environment ready in $(duration $((SECONDS - start)))"
}

# What the stamp of an up-to-date venv holds: a hash of each input file, and the venv's
# Python version (PY_VERSION, set by probe) and the set-up version.
venv_stamp() {
    "$1/bin/python" - "$PY_VERSION" "$SETUP_VERSION" "${@:2}" <<'EOF2'
import hashlib, sys
version, setup, *paths = sys.argv[1:]
for path in paths:
    with open(path, "rb") as f:
        print(hashlib.sha256(f.read()).hexdigest(), path)
print("python-" + version, "setup-" + setup)
EOF2
}

# The locks against pyproject.toml and bot/rasa/requirements.txt, with the service's
# Python (bot.lockfiles needs tomllib and packaging, both there once it is installed).
# It names each mismatch and `make lock` itself.
check_locks() {
    "$VENV/bin/python" -m bot.lockfiles check >/dev/null || exit 1
}

cmd_service() {
    ensure_venv "$VENV" service 3.11+ "$SERVICE_LOCK" .
    check_locks
}

cmd_rasa() {
    ensure_venv "$RASA_VENV" Rasa 3.10 "$RASA_LOCK"
}

cmd_install() {
    local start=$SECONDS
    cmd_service
    cmd_rasa
    say "both environments installed ($(duration $((SECONDS - start))))"
}

# uv pip compile LOCK-ARGS...: one lock file, with every package's hashes. The pins of
# the lock being replaced are kept where they still fit (uv reads it first), so adding
# one dependency changes only what it brings, unless --upgrade.
compile_lock() {
    local out=$1
    shift
    note "uv pip compile $UPGRADE$* -o $out"
    # shellcheck disable=SC2086 # UPGRADE is one word or none
    "$UV" pip compile --quiet --generate-hashes --custom-compile-command "make lock" \
        $UPGRADE "$@" -o "$out" ||
        die "uv could not lock $out (see its messages above)."
}

UPGRADE=
cmd_lock() {
    local start=$SECONDS service_python
    case ${1:-} in
        "") ;;
        --upgrade) UPGRADE="--upgrade " ;;
        *) die "scripts/setup.sh lock takes only --upgrade, not $1." ;;
    esac
    say "writing the lock files under locks/${UPGRADE:+ (every package at its newest allowed version)}"
    find_uv lock
    mkdir -p locks
    compile_lock "$UV_LOCK" --universal "$UV_INPUT"
    # The dev lock first: the runtime lock is held to its versions, so the service runs
    # what the tests ran with.
    find_service_python
    service_python=$PY_EXE
    compile_lock "$SERVICE_LOCK" --python "$service_python" --universal --python-version 3.11 \
        pyproject.toml --extra dev
    # The runtime carries the tracing extra: the image can be traced by setting
    # OTEL_EXPORTER_OTLP_ENDPOINT alone.
    compile_lock "$RUNTIME_LOCK" --python "$service_python" --universal --python-version 3.11 \
        pyproject.toml --extra otel -c "$SERVICE_LOCK"
    # Rasa's own Python builds whatever Rasa needs from source (docopt's metadata).
    find_rasa_python
    compile_lock "$RASA_LOCK" --python "$PY_EXE" --python-version 3.10 \
        --python-platform "$RASA_PLATFORM" "$RASA_REQUIREMENTS"
    if [ -x "$VENV/bin/python" ]; then
        check_locks
    fi
    say "locks written in $(duration $((SECONDS - start))): $UV_LOCK $SERVICE_LOCK $RUNTIME_LOCK $RASA_LOCK"
    note "\`make install\` installs them; commit locks/ with the change that needed it."
}

cmd_rasa_python() {
    find_rasa_python >&2
    printf '%s\n' "$PY_EXE"
}

cmd_model() {
    local py=$VENV/bin/python rasa=$RASA_VENV/bin/rasa fp path name tmp start files file old data=()
    if [ ! -x "$py" ] || [ ! -x "$rasa" ]; then
        die "the environments are not installed: run \`make install\` first."
    fi
    for file in bot/rasa/config.yml bot/rasa/domain.yml; do
        [ -f "$file" ] || die "$file is missing: the Rasa project cannot be trained without it."
    done

    fp=$("$py" -m bot.rasa_project fingerprint)
    path=$("$py" -m bot.rasa_project model-path)
    name=gangway-$fp
    if [ -f "$path" ]; then
        say "Rasa model up to date: var/models/$name.tar.gz (bot/rasa/ and data/ unchanged, training skipped)"
    else
        files=$("$py" -m bot.rasa_project training-data)
        while IFS= read -r file; do [ -z "$file" ] || data+=("$file"); done <<<"$files"
        [ ${#data[@]} -gt 0 ] || die "no training data: add Rasa YAML files under data/ (data/tests/ holds test stories only)."

        say "training the Rasa model $name (bot/rasa/ or data/ changed)"
        tmp=var/models/.training
        rm -rf "$tmp"
        mkdir -p "$tmp"
        note "about a minute, more on a busy machine; Rasa logs each component as it starts and ends"
        note "rasa train --config bot/rasa/config.yml --domain bot/rasa/domain.yml --data ${data[*]} --out var/models --fixed-model-name $name"
        start=$SECONDS
        # Trained into a scratch folder and moved in place at the end, so an interrupted
        # run never leaves a half-written model that would count as trained.
        # No telemetry (it would try the network); Rasa's cache of trained components in
        # var/ (makes a retrain after a small change fast); less TensorFlow/SQLAlchemy noise.
        RASA_TELEMETRY_ENABLED=false RASA_CACHE_DIRECTORY="$ROOT/var/rasa-cache" \
            TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1 \
            "$rasa" train --config bot/rasa/config.yml --domain bot/rasa/domain.yml \
            --data "${data[@]}" --out "$tmp" --fixed-model-name "$name" ||
            die "rasa train failed (see its messages above)."
        [ -f "$tmp/$name.tar.gz" ] || die "rasa train finished but wrote no $tmp/$name.tar.gz."
        mv "$tmp/$name.tar.gz" "$path"
        rm -rf "$tmp"
        say "trained var/models/$name.tar.gz in $(duration $((SECONDS - start)))"
    fi

    for old in var/models/gangway-*.tar.gz; do
        if [ -f "$old" ] && [ "${old##*/}" != "$name.tar.gz" ]; then
            note "removing the older model $old"
            rm -f "$old"
        fi
    done

    # gangway's own sensitivity model: skipped when its data and code are unchanged.
    "$VENV/bin/gangway" model train --if-needed ||
        die "training the sensitivity model failed (see its messages above)."
}

# Debian's apt-get, waiting for another apt/dpkg run to release its lock rather than failing.
apt_get() {
    local log tries=0
    log=$(mktemp)
    while :; do
        if DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@" 2>&1 | tee "$log"; then
            rm -f "$log"
            return 0
        fi
        if grep -q -e 'Could not get lock' -e 'Unable to lock' -e 'Unable to acquire' "$log" && [ $tries -lt 40 ]; then
            tries=$((tries + 1))
            note "another apt-get or dpkg is running; waiting for its lock (15s)"
            sleep 15
            continue
        fi
        rm -f "$log"
        return 1
    done
}

cmd_chromium() {
    local start=$SECONDS
    if [ -x /usr/bin/chromium ]; then
        say "browser tests: Debian's chromium is installed (/usr/bin/chromium)"
        return 0
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing Debian's chromium for the browser tests (apt-get install chromium)"
        apt_get update -qq || die "apt-get update failed."
        apt_get install -y -qq chromium || die "apt-get install chromium failed."
        [ -x /usr/bin/chromium ] || die "the chromium package did not install /usr/bin/chromium."
        say "chromium installed in $(duration $((SECONDS - start)))"
    else
        warn "/usr/bin/chromium is missing, so the browser tests will be skipped."
        note "Install Debian's chromium package to run them: sudo apt-get install chromium"
        note "(Playwright drives that browser; it never downloads one of its own.)"
    fi
}

cmd_graphviz() {
    local start=$SECONDS
    if [ -x /usr/bin/dot ]; then
        say "statechart diagrams: Debian's graphviz is installed (/usr/bin/dot)"
        return 0
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing Debian's graphviz for the statechart diagrams (apt-get install graphviz)"
        apt_get update -qq || die "apt-get update failed."
        apt_get install -y -qq graphviz || die "apt-get install graphviz failed."
        [ -x /usr/bin/dot ] || die "the graphviz package did not install /usr/bin/dot."
        say "graphviz installed in $(duration $((SECONDS - start)))"
    else
        warn "/usr/bin/dot is missing, so \`gangway flows diagram\` cannot draw the statechart."
        note "Install Debian's graphviz package for it: sudo apt-get install graphviz"
    fi
}

cmd_clean() {
    local path found=0
    for path in var "$VENV" "$RASA_VENV"; do
        if [ -e "$path" ]; then
            found=1
            case $path in
                var) say "removing var/ (trained Rasa models, the Rasa cache, the local SQLite database, var/tools/uv)" ;;
                *) say "removing $path/ (virtual environment)" ;;
            esac
            rm -rf "$path"
        fi
    done
    [ $found = 1 ] || say "nothing to remove (no var/, $VENV/ or $RASA_VENV/)"
}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

case ${1:-} in
    install) cmd_install ;;
    service) cmd_service ;;
    rasa) cmd_rasa ;;
    lock) cmd_lock "${@:2}" ;;
    installer) cmd_installer ;;
    model) cmd_model ;;
    chromium) cmd_chromium ;;
    graphviz) cmd_graphviz ;;
    rasa-python) cmd_rasa_python ;;
    clean) cmd_clean ;;
    -h | --help | help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
esac
