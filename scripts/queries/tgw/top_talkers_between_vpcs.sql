-- The pairs of VPCs that exchange the most bytes through a transit gateway, with packets and flows.
-- Runs as is on Athena, DuckDB and Spark SQL against the table `flowlake ddl` creates over a Transit
-- Gateway lake (tgw_flow_logs).
SELECT
  tgw_src_vpc_id,
  tgw_dst_vpc_id,
  sum(bytes) AS bytes,
  sum(packets) AS packets,
  count(*) AS flows
FROM tgw_flow_logs
WHERE tgw_src_vpc_id IS NOT NULL AND tgw_dst_vpc_id IS NOT NULL
GROUP BY tgw_src_vpc_id, tgw_dst_vpc_id
ORDER BY bytes DESC, tgw_src_vpc_id, tgw_dst_vpc_id
LIMIT 50;
