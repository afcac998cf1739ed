#!/usr/bin/env bash
# scripts/bench.sh [N ...]  - fleet-scale figures for docs/performance.md (default N: 1 100 1000 10000).
#
# For each N: a generated fleet (`cargo run --release --example fleet`), then wall time, CPU
# time and peak RSS (GNU time) of: validate; render into an empty folder on tmpfs and on disk
# (beside `tar x` of the same tree on the same disk, the cost of creating those files any
# other way); render --check of the unchanged fleet (reusing current folders, and with
# --no-cache), after one customer changed, after the shared layer changed; diff of the
# unchanged fleet; render of the unchanged fleet. Every run of a point is one line of
# $RESULTS/ours.tsv; the median of $RUNS runs goes to $RESULTS/ours.md.
#
# With PEERS (default "kcl kustomize jsonnet-go") and ../shared/bench-peers set up in
# $PEERS_DIR (default /dev/shm/peers: `BENCH_DIR=/dev/shm/peers ../shared/bench-peers/setup.sh`),
# the peers then run on the same machine in the same run, with gitopsc as peer `ours`
# rendering its own fleet of the same N, every output on tmpfs; PEERS= skips them.
#
# env: RUNS (3)  BENCH (/dev/shm/gitopsc-bench: fleets and tmpfs outputs)
#      DISK (/var/tmp/gitopsc-bench: the on-disk outputs)  RESULTS (target/bench)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
RUNS="${RUNS:-3}"
BENCH="${BENCH:-/dev/shm/gitopsc-bench}"
DISK="${DISK:-/var/tmp/gitopsc-bench}"
RESULTS="${RESULTS:-$root/target/bench}"
PEERS="${PEERS-kcl kustomize jsonnet-go}"
PEERS_DIR="${PEERS_DIR:-/dev/shm/peers}"
if [ "$#" -gt 0 ]; then NS=("$@"); else NS=(1 100 1000 10000); fi
[ -x /usr/bin/time ] || { echo "GNU time is needed (apt-get install time)" >&2; exit 2; }

cargo build --release --quiet --example fleet --bin gitopsc
bin="$root/target/release/gitopsc"
mkdir -p "$BENCH" "$DISK" "$RESULTS"
tsv="$RESULTS/ours.tsv"
echo -e "n\twhat\trun\twall_s\tuser_s\tsys_s\tpeak_rss_kb" > "$tsv"
printf '| N | what | wall s | user s | sys s | peak RSS MB |\n|---|---|---|---|---|---|\n' > "$RESULTS/ours.md"

# measure N WHAT PREPARE COMMAND: PREPARE runs untimed before each run.
measure() {
  local n="$1" what="$2" prepare="$3" command="$4" run stats
  for run in $(seq "$RUNS"); do
    bash -c "$prepare"
    # `render --check` and `diff` exit 1 on the changed fleets: a finding, not a failure.
    /usr/bin/time -o "$RESULTS/time.txt" -f '%e\t%U\t%S\t%M' bash -c "$command" >/dev/null 2>&1 || true
    stats=$(tail -1 "$RESULTS/time.txt")
    echo -e "$n\t$what\t$run\t$stats" >> "$tsv"
  done
  # The run with the median wall time stands for the point.
  awk -F'\t' -v n="$n" -v w="$what" '$1 == n && $2 == w' "$tsv" | sort -t"$(printf '\t')" -k4,4n |
    awk -F'\t' '{r[NR] = $0} END {print r[int((NR + 1) / 2)]}' |
    awk -F'\t' '{printf "| %s | %s | %.2f | %.2f | %.2f | %.0f |\n", $1, $2, $4, $5, $6, $7 / 1024}' |
    tee -a "$RESULTS/ours.md"
}

for n in "${NS[@]}"; do
  fleet="$BENCH/fleet-$n"
  rm -rf "$fleet"
  cargo run --release --quiet --example fleet -- "$fleet/profiles" "$n"
  tmp="$BENCH/out-$n" disk="$DISK/out-$n" tarball="$DISK/out-$n.tar"
  p="$fleet/profiles"
  first="$p/customer-00000.yaml"
  measure "$n" "validate" "true" "$bin validate $p"
  measure "$n" "render, empty folder, tmpfs" "rm -rf $tmp" "$bin render $p --out $tmp"
  measure "$n" "render, empty folder, disk" "rm -rf $disk; sync" "$bin render $p --out $disk; sync"
  tar -C "$DISK" -cf "$tarball" "out-$n"
  measure "$n" "tar x of the same tree, disk" "rm -rf $disk; sync" "tar -C $DISK -xf $tarball; sync"
  "$bin" render "$p" --out "$disk" >/dev/null 2>&1
  measure "$n" "render --check, unchanged" "true" "$bin render $p --out $tmp --check"
  measure "$n" "render --check --no-cache, unchanged" "true" "$bin render $p --out $tmp --check --no-cache"
  measure "$n" "diff, unchanged" "true" "$bin diff $p --out $tmp"
  measure "$n" "render, unchanged" "true" "$bin render $p --out $tmp"
  cp "$first" "$fleet/first.yaml"
  sed -i 's/replicas: \([0-9]*\)/replicas: 9\1/' "$first"
  measure "$n" "render --check, one customer changed" "true" "$bin render $p --out $tmp --check"
  cp "$fleet/first.yaml" "$first"
  cp "$p/_defaults.yaml" "$fleet/layer.yaml"
  sed -i 's/max_connections: 300/max_connections: 310/' "$p/_defaults.yaml"
  measure "$n" "render --check, layer changed" "true" "$bin render $p --out $tmp --check"
  cp "$fleet/layer.yaml" "$p/_defaults.yaml"
  echo "  N=$n: $(find "$tmp" -type f | wc -l) files, $(du -sb "$tmp" | cut -f1) bytes"
  rm -rf "$disk" "$tarball"
done

echo "ours: $RESULTS/ours.md"

if [ -n "$PEERS" ]; then
  if [ ! -x "$PEERS_DIR/.venv/bin/kcl" ] && [ ! -x "$PEERS_DIR/.venv/bin/kapitan" ]; then
    echo "peers: not set up in $PEERS_DIR (BENCH_DIR=$PEERS_DIR $root/../shared/bench-peers/setup.sh); skipped"
    exit 0
  fi
  # Peer `ours` renders gitopsc's own fleet of the run's N (its stack is larger than the peers').
  export GITOPSC_FLEETS="$BENCH" GITOPSC_BIN="$bin"
  # shellcheck disable=SC2016 # expanded by run.sh's bash, which exports WORK and OUT
  BENCH_DIR="$PEERS_DIR" RUNS="$RUNS" PEERS="$PEERS" \
    OURS_CMD='n=$(find "$WORK/profiles" -name "*.yaml" | wc -l); "$GITOPSC_BIN" render "$GITOPSC_FLEETS/fleet-$n/profiles" --out "$OUT"' \
    RESULTS="$RESULTS/peers" "$root/../shared/bench-peers/run.sh" "${NS[@]}"
  echo "peers: $RESULTS/peers/summary.md"
fi
