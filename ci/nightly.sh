#!/usr/bin/env bash
# One nightly regression job on one bench: run the plans, compare with the promoted baseline,
# leave the report, the comparison, the JUnit XML and the run file in one folder for the CI
# system to keep as artifacts, and end with a status the pipeline acts on.
#
# Every pipeline template of ci/ (GitLab CI, Jenkins, GitHub Actions) calls this script; the
# CI system only chooses the bench (runner tag / agent label), makes the job exclusive on it
# and keeps the artifacts. Settings come from the environment (ci/README.md lists them):
#
#   BENCHTEST_BENCH     bench file                                  (required)
#   BENCHTEST_DUT       DUT profile                                 (required)
#   BENCHTEST_BASELINE  name of the promoted baseline to compare with (required)
#   BENCHTEST_PLANS     plan files or folders, space separated      (default: test_plans)
#   BENCHTEST_RESULTS   the bench's results folder: run history and the baselines' catalog,
#                       kept between jobs                          (default: results)
#   BENCHTEST_OUT       this job's artifact folder, made afresh     (default: nightly-out)
#   BENCHTEST_SIM       1: serve the bench's sim:// roles with the simulated bench
#   BENCHTEST_SERIAL_NUMBER, BENCHTEST_LOT   recorded in the run file
#   BENCHTEST_INSTRUMENT_RETRIES  retries of a test after an instrument stopped answering,
#                       each with a fresh connection              (default: 2)
#   BENCHTEST_TOLERANCE drift tolerance file for the comparison    (optional)
#   BENCHTEST_PROMOTE   1: make this run the baseline BENCHTEST_BASELINE instead of comparing
#   BENCHTEST_CATALOG   the lab's catalog for `benchtest publish --catalog` (optional: no
#                       publishing when empty)
#   BENCHTEST_RUN_ARGS  more arguments for `benchtest run` (e.g. -k EXPR), space separated
#   BENCHTEST_COMMAND   the benchtest command                      (default: benchtest)
#
# Exit status: 0 no regression; 1 regression; 2 the night could not be judged (a bad setting or
# file, no such baseline, an interrupted run, no run file, a report or publication that
# failed); 69 bench error (an instrument could not be reached or stopped answering: the bench,
# not the DUT).
set -uo pipefail

readonly NO_REGRESSION=0 REGRESSION=1 NOT_JUDGED=2 BENCH_ERROR=69

say() { printf 'nightly: %s\n' "$*"; }
fail() { printf 'nightly: %s\n' "$*" >&2; exit "$NOT_JUDGED"; }

bench=${BENCHTEST_BENCH:-}
dut=${BENCHTEST_DUT:-}
baseline=${BENCHTEST_BASELINE:-}
plans=${BENCHTEST_PLANS:-test_plans}
results=${BENCHTEST_RESULTS:-results}
out=${BENCHTEST_OUT:-nightly-out}
retries=${BENCHTEST_INSTRUMENT_RETRIES:-2}
read -r -a benchtest <<<"${BENCHTEST_COMMAND:-benchtest}"

[ -n "$bench" ] || fail "BENCHTEST_BENCH is not set: name the bench file"
[ -n "$dut" ] || fail "BENCHTEST_DUT is not set: name the DUT profile"
[ -n "$baseline" ] || fail "BENCHTEST_BASELINE is not set: name the baseline to compare with"
[ -f "$bench" ] || fail "BENCHTEST_BENCH: no bench file $bench"
[ -f "$dut" ] || fail "BENCHTEST_DUT: no DUT profile $dut"
if ! [[ $retries =~ ^[0-9]{1,3}$ ]] || ((10#$retries > 100)); then
    fail "BENCHTEST_INSTRUMENT_RETRIES: expected a whole number from 0 to 100, got '$retries'"
fi
case ${BENCHTEST_SIM:-0} in 0 | 1) ;; *) fail "BENCHTEST_SIM: expected 0 or 1, got '$BENCHTEST_SIM'" ;; esac
case ${BENCHTEST_PROMOTE:-0} in 0 | 1) ;; *) fail "BENCHTEST_PROMOTE: expected 0 or 1, got '$BENCHTEST_PROMOTE'" ;; esac
if [ -n "${BENCHTEST_TOLERANCE:-}" ] && [ ! -f "$BENCHTEST_TOLERANCE" ]; then
    fail "BENCHTEST_TOLERANCE: no tolerance file $BENCHTEST_TOLERANCE"
fi
if [ -e "$out" ] && [ ! -d "$out" ]; then
    fail "BENCHTEST_OUT: $out is a file, not a folder"
elif [ -d "$out" ] && [ -n "$(ls -A "$out")" ]; then
    fail "BENCHTEST_OUT: $out is not empty; each job needs a fresh artifact folder"
fi
mkdir -p "$out/run" "$results" || fail "cannot make $out/run and $results"

# 1. Run the plans on this bench. The run file goes to the job's own folder, so exactly the
#    files of this run are its artifacts.
read -r -a plan_list <<<"$plans"
read -r -a more <<<"${BENCHTEST_RUN_ARGS:-}"
command=("${benchtest[@]}" run "${plan_list[@]}" --bench "$bench" --dut "$dut"
    --results-dir "$out/run" --junitxml "$out/junit.xml" --strict-bench
    --instrument-retries "$retries" -p no:cacheprovider)
[ "${BENCHTEST_SIM:-0}" = 1 ] && command+=(--sim)
[ -n "${BENCHTEST_SERIAL_NUMBER:-}" ] && command+=(--serial-number "$BENCHTEST_SERIAL_NUMBER")
[ -n "${BENCHTEST_LOT:-}" ] && command+=(--lot "$BENCHTEST_LOT")
command+=("${more[@]}")
say "running: ${command[*]}"
"${command[@]}"
run_status=$?
say "benchtest run exited $run_status"

shopt -s nullglob
run_files=("$out"/run/*.h5)
shopt -u nullglob
if [ "${#run_files[@]}" -ne 1 ]; then
    say "expected one run file in $out/run, found ${#run_files[@]}"
    [ "$run_status" -eq "$BENCH_ERROR" ] && exit "$BENCH_ERROR"
    exit "$NOT_JUDGED"
fi
run_file=${run_files[0]}
name=$(basename "$run_file")

# Keep the run in the bench's results folder (history for trends, a run that can be promoted):
# copied under a temporary name and renamed, so the folder never holds half a file.
cp "$run_file" "$results/.$name.part" && mv "$results/.$name.part" "$results/$name" \
    || fail "cannot copy $run_file into $results"
kept="$results/$name"

# 2. The report of the run.
report_status=0
"${benchtest[@]}" report "$run_file" -o "$out/report.html" || report_status=$?

# 3. Compare with the last promoted baseline, or make this run the baseline.
compare_status=0
if [ "${BENCHTEST_PROMOTE:-0}" = 1 ]; then
    "${benchtest[@]}" baseline promote "$kept" --name "$baseline" --results-dir "$results" \
        --note "promoted by the nightly job" || compare_status=$NOT_JUDGED
else
    compare=("${benchtest[@]}" compare --baseline "$baseline" "$kept" --results-dir "$results"
        --html "$out/compare.html" --json "$out/compare.json")
    [ -n "${BENCHTEST_TOLERANCE:-}" ] && compare+=(--tolerance-file "$BENCHTEST_TOLERANCE")
    "${compare[@]}"
    compare_status=$?
fi

# 4. Publish the run to the lab's catalog, when the lab has one. `benchtest run` publishes as
#    it ends (the catalog is in the environment); this makes sure it is there, and says so.
publish_status=0
if [ -n "${BENCHTEST_CATALOG:-}" ]; then
    "${benchtest[@]}" publish --catalog "$BENCHTEST_CATALOG" "$kept" || publish_status=$?
else
    say "BENCHTEST_CATALOG is not set: the run is not published to a lab catalog"
fi

# 5. The verdict: a bench error first (tonight's numbers are not the DUT's), then the run and
#    the comparison; a report or publication that failed leaves the night unjudged.
status=$NO_REGRESSION
if [ "$run_status" -eq "$BENCH_ERROR" ]; then
    status=$BENCH_ERROR
    say "BENCH ERROR: an instrument of $bench could not be reached or stopped answering"
elif [ "$run_status" -ne 0 ] && [ "$run_status" -ne 1 ]; then
    status=$NOT_JUDGED
    say "the run did not finish (benchtest run exited $run_status)"
elif [ "$compare_status" -eq "$REGRESSION" ]; then
    status=$REGRESSION
    say "REGRESSION against baseline '$baseline': see $out/compare.html"
elif [ "$compare_status" -ne 0 ]; then
    status=$NOT_JUDGED
    say "the comparison with baseline '$baseline' failed (exit $compare_status)"
elif [ "$report_status" -ne 0 ] || [ "$publish_status" -ne 0 ]; then
    status=$NOT_JUDGED
    say "the report (exit $report_status) or the publication (exit $publish_status) failed"
fi
say "run file: $run_file; artifacts in $out; exit $status"
if [ "${GITHUB_ACTIONS:-}" = true ] && [ "$status" -ne 0 ]; then  # an annotation on the run
    case $status in
    "$BENCH_ERROR") echo "::error title=bench error::$bench could not be reached: not a DUT failure" ;;
    "$REGRESSION") echo "::error title=regression::against baseline '$baseline'" ;;
    *) echo "::error title=not judged::the night could not be judged (exit $status)" ;;
    esac
fi
exit "$status"
