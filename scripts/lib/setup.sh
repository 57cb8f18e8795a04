# Shared by scripts/onebox and scripts/test: install what a fresh Debian
# machine lacks, and pick the build cache.

# Installs the given Debian packages if any is missing (uses sudo when not root).
ensure_packages() {
    local missing=()
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "petrel: installing missing packages: ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

if ! command -v cargo >/dev/null 2>&1; then
    echo "petrel: cargo not found; install Rust first (https://rustup.rs)" >&2
    exit 1
fi

# One build cache outside the clone, shared by both commands and by CI, so
# the RocksDB C++ build (10+ minutes on two cores) happens once per machine.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/petrel-target}"
