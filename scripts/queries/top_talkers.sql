-- Top talkers: the source addresses that sent the most bytes (accepted and rejected flows).
-- Runs as is on Athena, DuckDB and Spark SQL against the table `flowlake ddl` creates (vpc_flow_logs).
SELECT
  srcaddr,
  sum(bytes) AS total_bytes,
  sum(packets) AS total_packets,
  count(*) AS flows
FROM vpc_flow_logs
WHERE log_status = 'OK'
GROUP BY srcaddr
ORDER BY total_bytes DESC, srcaddr
LIMIT 10;
