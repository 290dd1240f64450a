#!/usr/bin/env bash
# Queue the benchmark on N nodes (a job array, one task per node) and the merge after it:
#
#   export MLP_BENCH_DIR=/shared/mlp-bench MLP_BENCH_SHARED=/shared/bench
#   deploy/slurm/submit.sh 20 --partition=compute     # extra options go to both sbatch calls
#
# Prints the two job ids; the report lands in $MLP_BENCH_SHARED/merged/report.html.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
nodes=${1:?usage: submit.sh NODES [sbatch options...]}
shift
: "${MLP_BENCH_DIR:?set MLP_BENCH_DIR to the mlp-bench checkout on shared storage}"
: "${MLP_BENCH_SHARED:?set MLP_BENCH_SHARED to a folder on shared storage for the results}"
mkdir -p "$MLP_BENCH_SHARED/results"
array=$(sbatch --parsable --array="1-$nodes" --chdir="$MLP_BENCH_SHARED" "$@" "$here/bench-array.sbatch")
array=${array%%;*}
merge=$(sbatch --parsable --dependency="afterok:$array" --chdir="$MLP_BENCH_SHARED" "$@" "$here/merge.sbatch")
merge=${merge%%;*}
echo "array job $array ($nodes tasks), merge job $merge (after every task succeeded)"
echo "report: $MLP_BENCH_SHARED/merged/report.html"
