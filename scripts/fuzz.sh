#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] [TARGET...]  - runs the cargo-fuzz targets (fuzz/fuzz_targets:
# load, layer, validate), each for SECONDS (default 60), from corpora seeded with every
# profile and layer of the repository (tests/fixtures, profiles). A crash, a panic, an
# input slower than 10 s or a diagnostic pointing outside its file fails the run; libFuzzer
# leaves the input in fuzz/artifacts/<target>/ (make it a fixture: docs/testing.md).
# Needs the nightly toolchain; cargo-fuzz is installed from crates.io when missing. Without
# the toolchain it says so and exits 0.
# The build is unoptimised with overflow checks and no sanitizer (safe Rust; under 3 minutes
# from nothing, where an optimised AddressSanitizer build takes over 15 on 2 cores).
# FUZZ_BUILD replaces those cargo-fuzz flags and FUZZ_ARGS adds libFuzzer flags: the long
# runs of docs/testing.md used FUZZ_BUILD=-O (AddressSanitizer, optimised) and
# FUZZ_ARGS='-fork=1 -ignore_crashes=1' to go on past a crash.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(load layer validate)

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: skipped: no nightly Rust toolchain (rustup toolchain install nightly)"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz from crates.io"
  cargo install --locked --quiet cargo-fuzz
fi

# Seeds: each file alone (load), each folder's layers and profiles as one input separated
# by lines `%%%` (layer), and `_defaults.yaml` with each profile beside it (validate).
corpus=fuzz/corpus
mkdir -p "$corpus/load" "$corpus/layer" "$corpus/validate"
seed() { # seed TARGET < bytes
  local file
  file=$(mktemp "$corpus/$1/seed-XXXXXX")
  cat >"$file"
  mv "$file" "$corpus/$1/seed-$(sha256sum <"$file" | cut -c1-16)"
}
while IFS= read -r -d '' folder; do
  for profile in "$folder"/*.yaml; do
    [ -f "$profile" ] || continue
    seed load <"$profile"
    case $(basename "$profile") in _*) continue ;; esac
    layers=("$folder"/_*.yaml)
    {
      for layer in "${layers[@]}"; do
        [ -f "$layer" ] && { cat "$layer"; printf '\n%%%%%%\n'; }
      done
      cat "$profile"
    } | seed layer
    { [ -f "$folder/_defaults.yaml" ] && cat "$folder/_defaults.yaml"; printf '\n%%%%%%\n'; cat "$profile"; } | seed validate
  done
done < <(find profiles tests/fixtures -type d -print0)

read -r -a build <<<"${FUZZ_BUILD:---dev -s none}"
read -r -a extra <<<"${FUZZ_ARGS:-}"
echo "==> build the fuzz targets (cargo fuzz build ${build[*]})"
cargo +nightly fuzz build --fuzz-dir fuzz "${build[@]}"
status=0
for target in "${targets[@]}"; do
  echo "==> fuzz $target for ${seconds}s"
  mkdir -p "fuzz/artifacts/$target"
  if ! cargo +nightly fuzz run --fuzz-dir fuzz "${build[@]}" "$target" "$corpus/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$target/" "${extra[@]}" \
      2>"fuzz/artifacts/$target.log"; then
    status=1
    tail -40 "fuzz/artifacts/$target.log"
  fi
  grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "fuzz/artifacts/$target.log" | tail -2 || true
  grep -E 'cov: [0-9]+' -o "fuzz/artifacts/$target.log" | tail -1 || true
done
exit "$status"
