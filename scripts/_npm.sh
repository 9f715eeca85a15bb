# Sourced by the other scripts: makes DIR/node_modules match DIR/package-lock.json.
# Usage: ensure_node_modules tests/contract
ensure_node_modules() {
  local dir=$1 stamp=$1/node_modules/.installed wanted
  command -v npm >/dev/null \
    || { echo "npm is needed for $dir (Debian: apt-get install -y nodejs npm)" >&2; return 1; }
  wanted=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  # npm ci reinstalls from scratch: only when the lock file changed since the last install.
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    echo "Installing the npm tools of $dir" >&2
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
    echo "$wanted" > "$stamp"
  fi
}
