#!/usr/bin/env bash
# The data-beyond-memory check of docs/data.md, end to end on a synthetic ImageNet-layout folder:
#   1. write ~3 GB of JPEGs (100 classes × 250 train + 10 val, ImageNet-like sizes; `cankit data synthesize`),
#   2. cache train/ at 224 px, killing the build part-way (SIGKILL) and letting a second run continue it, then
#      verify the finished cache against its index,
#   3. pre-train a few steps on it (`--data folder-224`, read from the file on demand) while sampling the
#      process's memory (VmRSS, RssAnon, RssFile) every 2 s,
#   4. `cankit bench loader` on it,
#   5. delete everything it wrote (the disk is shared).
# Usage: tools/data-at-scale.sh WORKDIR [stage...]   stages: synth cache train bench clean (default: all)
# Heavy steps run under `nice -n 10`. Needs ~8 GB free in WORKDIR (3.1 GB JPEG + 3.8 GB cache).
set -euo pipefail
work=${1:?usage: tools/data-at-scale.sh WORKDIR [synth cache train bench clean]}
shift
stages=${*:-synth cache train bench clean}
here=$(cd "$(dirname "$0")/.." && pwd)
ck=${CANKIT:-$here/src/CanKit.Cli/bin/Release/net10.0/CanKit.Cli}
data=$work/imnet-syn
mkdir -p "$work/logs"
has() { [[ " $stages " == *" $1 "* ]]; }

# Samples VmRSS / RssAnon / RssFile (kB) of process $1 every 2 s into $2 until it exits.
sample_rss() {
  echo "seconds,vmrss_kb,rssanon_kb,rssfile_kb" > "$2"
  local t0=$SECONDS
  while kill -0 "$1" 2>/dev/null; do
    awk -v t=$((SECONDS - t0)) '/^VmRSS/{v=$2} /^RssAnon/{a=$2} /^RssFile/{f=$2} END{if (v) print t "," v "," a "," f}' "/proc/$1/status" >> "$2" 2>/dev/null || true
    sleep 2
  done
}

rss_summary() {
  awk -F, 'NR>1{n++; if (n==1||$2<lo) lo=$2; if ($2>hi) hi=$2; if ($3>ha) ha=$3; if ($4>hf) hf=$4} END{printf "RSS over %d samples (2 s apart): %.0f..%.0f MB; max anonymous %.0f MB, max file-backed %.0f MB\n", n, lo/1024, hi/1024, ha/1024, hf/1024}' "$1"
}

if has synth && [ ! -d "$data" ]; then
  nice -n 10 "$ck" data synthesize --out "$data" --classes 100 --train-per-class 250 --val-per-class 10 --distinct 2000 | tr '\r' '\n' | tail -1
fi

if has cache; then
  nice -n 10 "$ck" data cache "$data/train" --side 224 > "$work/logs/cache-killed.log" 2>&1 &
  pid=$!
  sleep "${KILL_AFTER:-120}"
  kill -9 $pid; wait $pid || echo "cache build killed after ${KILL_AFTER:-120} s"
  start=$SECONDS
  nice -n 10 "$ck" data cache "$data/train" --side 224 --verify | tr '\r' '\n' | grep -v '^  decoded' | tee "$work/logs/cache-resumed.log"
  echo "resumed build + verification: $((SECONDS - start)) s"
  nice -n 10 "$ck" data cache "$data/val" --side 224 | tr '\r' '\n' | tail -1
fi

if has train; then
  rm -rf "$work/run"
  nice -n 10 "$ck" pretrain --data folder-224 --data-root "$data" --width 192 --depth 6 --heads 3 --patch 16 --batch 64 \
    --steps "${STEPS:-20}" --out "$work/run" > "$work/logs/pretrain.log" 2>&1 &
  pid=$!
  sample_rss $pid "$work/logs/pretrain-rss.csv"
  wait $pid
  tail -3 "$work/logs/pretrain.log"
  rss_summary "$work/logs/pretrain-rss.csv"
fi

if has bench; then
  nice -n 10 "$ck" bench loader --folder "$data/train" --side 224 --rounds "${ROUNDS:-3}" --batch 32 --workers 2 --depth 6 > "$work/logs/bench-loader.log" 2>&1 &
  pid=$!
  sample_rss $pid "$work/logs/bench-rss.csv"
  wait $pid
  cat "$work/logs/bench-loader.log"
  rss_summary "$work/logs/bench-rss.csv"
fi

if has clean; then
  rm -rf "$data" "$work/run"
  echo "deleted $data"
fi
