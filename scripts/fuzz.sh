#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (ASan + UBSan, leak checks on) straight from
# the project sources, replays fuzz/regressions/, then runs each fuzzer for N seconds from its
# seed corpus (fuzz/corpus/<fuzzer>, read only; new inputs go to the build directory) and
# prints executions, coverage (cov/ft of libFuzzer's last status line), time and crashes.
# Exits non-zero when clang is missing, a build fails, a regression input fails or a fuzzer
# finds a crash (the input is then under <build>/artifacts/<fuzzer>/; docs/fuzzing.md says
# what to do with it).
#
#   scripts/fuzz.sh [--seconds N] [--jobs J] [--build-dir DIR] [--only NAME]... [--seeds]
#     --seconds N   run time per fuzzer (default 20)
#     --jobs J      fuzzers run at the same time (default 2)
#     --build-dir   default <source>/build-fuzz-clang
#     --only NAME   run only this fuzzer (repeatable), e.g. --only fuzz-config
#     --seeds       regenerate the generated seed corpora (sparkplug) and exit
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_PER=20
JOBS=2
BUILD=""
ONLY=()
SEEDS_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    --only) ONLY+=("$2"); shift 2 ;;
    --seeds) SEEDS_ONLY=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ "$SECONDS_PER" =~ ^[0-9]+$ && "$SECONDS_PER" -gt 0 ]] || { echo "fuzz.sh: bad --seconds" >&2; exit 2; }
[[ "$JOBS" =~ ^[0-9]+$ && "$JOBS" -gt 0 ]] || { echo "fuzz.sh: bad --jobs" >&2; exit 2; }
BUILD=${BUILD:-$SRC/build-fuzz-clang}

FUZZERS=(fuzz-config fuzz-decoder-text fuzz-decoder-json fuzz-decoder-sparkplug fuzz-recording
  fuzz-topic fuzz-lineproto fuzz-ingest)
[ ${#ONLY[@]} -gt 0 ] && FUZZERS=("${ONLY[@]}")

# The project sources the fuzzers need: every pure module (a new file is picked up), the
# recording reader and the decoders; no I/O to servers, no main().
# (listed from $SRC: meson runs this from the build directory)
CORE=($(cd "$SRC" && ls daemon/util/*.c daemon/config/*.c daemon/core/*.c daemon/ingest/*.c \
  daemon/emit/*.c daemon/pipeline/*.c daemon/io/recording.c plugins/decoder_*.c))
LIBS=(-lyaml -lcjson -lprotobuf-c -lm)

CC=${CC_FUZZ:-clang}
if ! command -v "$CC" >/dev/null || ! command -v protoc-c >/dev/null; then
  echo "fuzz.sh: needs clang and protoc-c (scripts/deps.sh installs them)" >&2
  exit 1
fi
LAYER_INC=()
for d in "$SRC"/daemon/*/; do LAYER_INC+=(-I"$d"); done
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
CFLAGS=(-std=c11 -D_GNU_SOURCE -DFUZZ_SOURCE_DIR="\"$SRC\"" -g -O1 "${SAN[@]}" "${LAYER_INC[@]}" -I"$SRC/plugins" -I"$BUILD/gen")
mkdir -p "$BUILD/gen" "$BUILD/obj" "$BUILD/bin" "$BUILD/logs"

# Sparkplug B code from the same .proto as the main build.
if [ ! -f "$BUILD/gen/sparkplug_b.pb-c.c" ] ||
  [ "$SRC/plugins/sparkplug_b.proto" -nt "$BUILD/gen/sparkplug_b.pb-c.c" ]; then
  protoc-c --proto_path="$SRC/plugins" --c_out="$BUILD/gen" "$SRC/plugins/sparkplug_b.proto"
fi

# A header changed: rebuild all objects (simple and always right).
newest_header=$(ls -t "$SRC"/daemon/*/*.h "$SRC"/plugins/*.h "$BUILD/gen/sparkplug_b.pb-c.h" | head -n 1)
compile() { # source object
  if [ ! -f "$2" ] || [ "$1" -nt "$2" ] || [ "$newest_header" -nt "$2" ]; then
    "$CC" "${CFLAGS[@]}" -fsanitize=fuzzer-no-link -w -c "$1" -o "$2"
  fi
}
objs=()
build_start=$(date +%s)
pids=()
for s in "${CORE[@]}" "$BUILD/gen/sparkplug_b.pb-c.c"; do
  [[ "$s" = /* ]] || s="$SRC/$s"
  o="$BUILD/obj/$(basename "${s%.c}").o"
  objs+=("$o")
  compile "$s" "$o" & pids+=($!)
  if [ ${#pids[@]} -ge "$JOBS" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done

if [ "$SEEDS_ONLY" -eq 1 ]; then
  "$CC" "${CFLAGS[@]}" -Wall -Wextra -Wno-unused-parameter -Werror -fsanitize=fuzzer-no-link \
    -I"$SRC/fuzz" "$SRC/fuzz/gen-seeds.c" "${objs[@]}" "${LIBS[@]}" -o "$BUILD/bin/gen-seeds"
  "$BUILD/bin/gen-seeds" "$SRC/fuzz/corpus"
  exit 0
fi

for f in "${FUZZERS[@]}"; do
  [ -f "$SRC/fuzz/$f.c" ] || { echo "fuzz.sh: no fuzz/$f.c" >&2; exit 2; }
  if [ ! -x "$BUILD/bin/$f" ] || [ "$SRC/fuzz/$f.c" -nt "$BUILD/bin/$f" ] ||
    [ -n "$(find "$SRC/fuzz" -name '*.h' -newer "$BUILD/bin/$f")" ] ||
    [ -n "$(find "$BUILD/obj" -name '*.o' -newer "$BUILD/bin/$f")" ]; then
    "$CC" "${CFLAGS[@]}" -Wall -Wextra -Wno-unused-parameter -Werror -fsanitize=fuzzer -I"$SRC/fuzz" "$SRC/fuzz/$f.c" \
      "${objs[@]}" "${LIBS[@]}" -o "$BUILD/bin/$f"
  fi
done
echo "built ${#FUZZERS[@]} fuzzers in $BUILD/bin ($(( $(date +%s) - build_start ))s)"

# Regression inputs: each must run clean (one execution each, no fuzzing).
failed=0
for f in "${FUZZERS[@]}"; do
  dir="$SRC/fuzz/regressions/$f"
  [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ] || continue
  if ! "$BUILD/bin/$f" "$dir"/* >"$BUILD/logs/$f.regressions.log" 2>&1; then
    echo "REGRESSION FAILED: $f (see $BUILD/logs/$f.regressions.log)"
    failed=1
  else
    echo "regressions ok: $f ($(ls "$dir" | wc -l) inputs)"
  fi
done

run_one() { # fuzzer
  local f=$1 work="$BUILD/corpus/$1" art="$BUILD/artifacts/$1/"
  mkdir -p "$work" "$art"
  local start rc=0
  start=$(date +%s)
  touch "$BUILD/logs/$f.start"
  # -timeout: an input running 10 s is a hang; -rss_limit_mb stays below the machine's RAM.
  "$BUILD/bin/$f" -max_total_time="$SECONDS_PER" -print_final_stats=1 -timeout=10 \
    -rss_limit_mb=1536 -artifact_prefix="$art" "$work" "$SRC/fuzz/corpus/$f" \
    >"$BUILD/logs/$f.log" 2>&1 || rc=$?
  echo "$rc $(( $(date +%s) - start ))" >"$BUILD/logs/$f.result"
}

pids=()
for f in "${FUZZERS[@]}"; do
  run_one "$f" & pids+=($!)
  if [ ${#pids[@]} -ge "$JOBS" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done

printf '%-24s %12s %8s %8s %7s %8s  %s\n' fuzzer executions cov ft time crashes result
for f in "${FUZZERS[@]}"; do
  log="$BUILD/logs/$f.log"
  read -r rc secs <"$BUILD/logs/$f.result"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | grep ' cov: ' | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  crashes=$(find "$BUILD/artifacts/$f" -type f -newer "$BUILD/logs/$f.start" | wc -l)
  result=ok
  if [ "$rc" -ne 0 ]; then
    result="FAILED (exit $rc, see $log)"
    failed=1
    [ "$crashes" -eq 0 ] && crashes=1
  fi
  printf '%-24s %12s %8s %8s %6ss %8s  %s\n' "$f" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$secs" \
    "$crashes" "$result"
done
exit $failed
