-- Rejected connections by destination port and protocol: what the security groups and NACLs block,
-- how often, and from how many sources.
-- Runs as is on Athena, DuckDB and Spark SQL against the table `flowlake ddl` creates (vpc_flow_logs).
-- To read fewer partitions, add e.g. AND year = '2024' AND month = '03' AND day = '09'.
SELECT
  dstport,
  protocol,
  count(*) AS flows,
  sum(packets) AS total_packets,
  count(DISTINCT srcaddr) AS sources
FROM vpc_flow_logs
WHERE action = 'REJECT'
GROUP BY dstport, protocol
ORDER BY flows DESC, dstport, protocol
LIMIT 20;
