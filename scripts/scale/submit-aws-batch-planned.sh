#!/usr/bin/env bash
# Plans a conversion once, then submits it as an AWS Batch array job of one task per shard of the
# plan: each task builds its part with no listing of the logs (K from AWS_BATCH_JOB_ARRAY_INDEX, N and
# every setting from the plan). A failed task is retried by Batch; a retry reruns its part.
#   scripts/scale/submit-aws-batch-planned.sh QUEUE SHARDS FROM TO [LOGS] [LAKE] [-- PLAN FLAGS...]
# Runs `flowlake plan` here (the binary on PATH, or FLOWLAKE=... e.g. "docker run --rm flowlake");
# extra flags after `--` go to plan (for example --inventory s3://.../manifest.json).
set -euo pipefail
queue=$1 shards=$2 from=$3 to=$4
shift 4
logs=s3://my-flow-logs/AWSLogs/ lake=s3://my-lake/vpc-flow-logs/
if [ $# -gt 0 ] && [ "$1" != "--" ]; then logs=$1; shift; fi
if [ $# -gt 0 ] && [ "$1" != "--" ]; then lake=$1; shift; fi
[ "${1:-}" = "--" ] && shift
flowlake=${FLOWLAKE:-flowlake}
plan=$($flowlake plan "$logs" --out "$lake" --shards "$shards" --from "$from" --to "$to" --json "$@")
id=$(printf '%s' "$plan" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
echo "plan $id" >&2
aws batch register-job-definition \
  --cli-input-json "file://$(dirname "$0")/aws-batch-job-definition-planned.json" >/dev/null
# An array job needs at least 2 children; a plan of one shard is one plain job.
if [ "$shards" -gt 1 ]; then array=(--array-properties "size=$shards"); else array=(); fi
aws batch submit-job --job-name "flowlake-$id" --job-queue "$queue" --job-definition flowlake-planned \
  "${array[@]}" --parameters "lake=$lake,plan=$id"
