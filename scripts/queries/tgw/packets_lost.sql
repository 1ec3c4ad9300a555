-- Packets a transit gateway dropped, by attachment and reason (no route, blackhole route, MTU exceeded,
-- TTL expired), most first, with the flows that lost them and when (unix seconds).
-- Runs as is on Athena, DuckDB and Spark SQL against the table `flowlake ddl` creates over a Transit
-- Gateway lake (tgw_flow_logs).
SELECT
  tgw_id,
  tgw_attachment_id,
  reason,
  sum(lost) AS packets_lost,
  count(*) AS flows,
  min(start) AS first_seen,
  max(start) AS last_seen
FROM (
  SELECT tgw_id, tgw_attachment_id, start, 'no_route' AS reason, packets_lost_no_route AS lost
  FROM tgw_flow_logs WHERE packets_lost_no_route > 0
  UNION ALL
  SELECT tgw_id, tgw_attachment_id, start, 'blackhole' AS reason, packets_lost_blackhole AS lost
  FROM tgw_flow_logs WHERE packets_lost_blackhole > 0
  UNION ALL
  SELECT tgw_id, tgw_attachment_id, start, 'mtu_exceeded' AS reason, packets_lost_mtu_exceeded AS lost
  FROM tgw_flow_logs WHERE packets_lost_mtu_exceeded > 0
  UNION ALL
  SELECT tgw_id, tgw_attachment_id, start, 'ttl_expired' AS reason, packets_lost_ttl_expired AS lost
  FROM tgw_flow_logs WHERE packets_lost_ttl_expired > 0
) lost
GROUP BY tgw_id, tgw_attachment_id, reason
ORDER BY packets_lost DESC, tgw_id, tgw_attachment_id, reason
LIMIT 100;
