#!/usr/bin/env bash
# A ReaLLM deployment search as a Slurm job array: one shard per array task, merged at the end.
#
#   sbatch --array=0-15 docs/cluster/slurm-search.sh                     # run 16 shards
#   sbatch --dependency=afterok:<jobid> --wrap \
#     "reallm search merge search-shard-* --out search"                  # merge them
#
# Each shard simulates the deployments with index % N == I into search-shard-<i>/ (every shard
# enumerates the same space, so indices agree); rerunning a failed task resumes it (finished
# deployments are kept). The merge recomputes the Pareto frontier and the winner over all rows
# and refuses folders of another search. Override the search with SEARCH, the binary with REALLM.
#SBATCH --job-name=reallm-search
#SBATCH --cpus-per-task=4
#SBATCH --time=01:00:00
set -euo pipefail
REALLM=${REALLM:-reallm}
I=${SLURM_ARRAY_TASK_ID:?run as a job array (sbatch --array=0-N)}
N=${SLURM_ARRAY_TASK_COUNT:?run as a job array}
SEARCH=${SEARCH:-"--model llama3.1-70b --device H100-SXM --gpus 8,16 --isl 4000 --osl 500 --ttft 2 --tpot 0.05"}
# shellcheck disable=SC2086
"$REALLM" ${REALLM_ARGS:-} search $SEARCH --shard "$I/$N" --jobs "${SLURM_CPUS_PER_TASK:-1}" --out "search-shard-$I"
