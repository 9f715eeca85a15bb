# Sourced by the other scripts: makes .venv exist and match pyproject.toml.
# Usage: ensure_venv ""      (runtime only)   ensure_venv "[dev]"   (runtime + test and lint tools)
ensure_venv() {
  local extras=$1 python=${PYTHON:-python3}
  if [ ! -x .venv/bin/python ]; then
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
      || { echo "Python 3.11 or newer is needed (found: $("$python" --version 2>&1))" >&2; return 1; }
    echo "Creating .venv with $("$python" --version)" >&2
    "$python" -m venv .venv
  fi
  # Reinstall only when pyproject.toml or the requested extras changed since the last install.
  local stamp=.venv/.installed wanted
  wanted="$extras $(sha256sum pyproject.toml | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || ! grep -qxF -- "$wanted" "$stamp"; then
    echo "Installing users-api$extras into .venv" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    # setuptools warns, on every editable install, about folders named like the package: the
    # layout of this repository, and nothing its users can act on.
    PYTHONWARNINGS="ignore:Editable installation" \
      .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$extras"
    echo "$wanted" >> "$stamp"
  fi
}
