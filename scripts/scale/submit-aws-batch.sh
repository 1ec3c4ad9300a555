#!/usr/bin/env bash
# Submits a one-off archive migration as an AWS Batch array job: SIZE tasks, each converting the
# partitions of its shard (flowlake reads AWS_BATCH_JOB_ARRAY_INDEX / AWS_BATCH_JOB_ARRAY_SIZE itself).
# A failed task is retried by Batch (retryStrategy); a retry is a rerun of the same shard.
#   scripts/scale/submit-aws-batch.sh QUEUE SIZE FROM TO [LOGS] [LAKE]
set -euo pipefail
queue=$1 size=$2 from=$3 to=$4
logs=${5:-s3://my-flow-logs/AWSLogs/}
lake=${6:-s3://my-lake/vpc-flow-logs/}
aws batch register-job-definition --cli-input-json "file://$(dirname "$0")/aws-batch-job-definition.json" >/dev/null
aws batch submit-job --job-name "flowlake-$from-$to" --job-queue "$queue" --job-definition flowlake \
  --array-properties "size=$size" \
  --parameters "logs=$logs,lake=$lake,from=$from,to=$to"
