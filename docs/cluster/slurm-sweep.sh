#!/usr/bin/env bash
# A ReaLLM sweep as a Slurm job array: one shard per array task, merged at the end.
#
#   sbatch --array=0-15 docs/cluster/slurm-sweep.sh            # run 16 shards
#   sbatch --dependency=afterok:<jobid> --wrap \
#     "reallm sweep merge sweep-shard-*.csv --out sweep.csv"   # merge them
#
# Each shard writes sweep-shard-<i>.csv; rerunning a failed task resumes it (finished rows are
# kept). Override the grid with the GRID variable, the binary with REALLM.
#SBATCH --job-name=reallm-sweep
#SBATCH --cpus-per-task=4
#SBATCH --time=01:00:00
set -euo pipefail
REALLM=${REALLM:-reallm}
I=${SLURM_ARRAY_TASK_ID:?run as a job array (sbatch --array=0-N)}
N=${SLURM_ARRAY_TASK_COUNT:?run as a job array}
GRID=${GRID:-"--grid workload.request_rates=1,2,4,8 --grid system.batching.policy=continuous,mixed,chunked"}
# shellcheck disable=SC2086
"$REALLM" ${REALLM_ARGS:-} sweep $GRID --shard "$I/$N" --jobs "${SLURM_CPUS_PER_TASK:-1}" --out "sweep-shard-$I.csv"
