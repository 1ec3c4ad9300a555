-- Traffic to and from AWS services: flows, packets and bytes by direction, AWS service and region
-- (the columns of `--enrich aws-service`, from AWS's ip-ranges.json). A flow between two AWS
-- addresses counts as "to" its destination's service.
-- Runs as is on Athena, DuckDB and Spark SQL against the table `flowlake ddl` creates (vpc_flow_logs)
-- of a lake converted with --enrich aws-service.
-- To read fewer partitions, add e.g. AND year = '2024' AND month = '03' AND day = '09'.
SELECT
  CASE WHEN dst_aws_service IS NOT NULL THEN 'to' ELSE 'from' END AS direction,
  coalesce(dst_aws_service, src_aws_service) AS aws_service,
  coalesce(dst_aws_region, src_aws_region) AS aws_region,
  count(*) AS flows,
  coalesce(sum(packets), 0) AS total_packets,
  coalesce(sum(bytes), 0) AS total_bytes
FROM vpc_flow_logs
WHERE dst_aws_service IS NOT NULL OR src_aws_service IS NOT NULL
GROUP BY
  CASE WHEN dst_aws_service IS NOT NULL THEN 'to' ELSE 'from' END,
  coalesce(dst_aws_service, src_aws_service),
  coalesce(dst_aws_region, src_aws_region)
ORDER BY total_bytes DESC, flows DESC, direction, aws_service, aws_region
LIMIT 20;
