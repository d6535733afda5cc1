#!/usr/bin/env bash
# The nightly job on the simulated bench: runs on any runner, so every pipeline template tests
# itself. Two nights in a fresh results folder: the first run is promoted as the baseline, the
# second is compared with it, through the same ci/nightly.sh that the bench jobs run.
#
#   BENCHTEST_OUT    artifact folder, made afresh (default: nightly-out); the results folder of
#                    the two nights is $BENCHTEST_OUT/results, the first night's artifacts
#                    $BENCHTEST_OUT/first-night, the second's $BENCHTEST_OUT/second-night
#   BENCHTEST_DUT, BENCHTEST_PLANS   default: dut_profiles/bt_ldo33.yaml, test_plans/ldo
#   (the bench is always benches/sim.yaml; a bench job's other settings are replaced)
#   BENCHTEST_COMMAND, BENCHTEST_TOLERANCE, BENCHTEST_RUN_ARGS   as for ci/nightly.sh
#
# Exit status: that of the second night (see ci/nightly.sh), or of the first when it failed.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=${BENCHTEST_OUT:-nightly-out}
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
    printf 'sim-bench: %s is not empty; the job needs a fresh artifact folder\n' "$out" >&2
    exit 2
fi

export BENCHTEST_SIM=1
export BENCHTEST_BENCH="$root/benches/sim.yaml"  # always: this is the simulated bench's job
export BENCHTEST_DUT="${BENCHTEST_DUT:-$root/dut_profiles/bt_ldo33.yaml}"
export BENCHTEST_PLANS="${BENCHTEST_PLANS:-$root/test_plans/ldo}"
export BENCHTEST_BASELINE=sim-nightly
export BENCHTEST_RESULTS="$out/results"
export BENCHTEST_SERIAL_NUMBER=SIM-0001
unset BENCHTEST_CATALOG BENCHTEST_LOT

BENCHTEST_OUT="$out/first-night" BENCHTEST_PROMOTE=1 "$here/nightly.sh" || exit $?
BENCHTEST_OUT="$out/second-night" BENCHTEST_PROMOTE=0 exec "$here/nightly.sh"
