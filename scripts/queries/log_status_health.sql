-- Flow log health per day: records with log-status NODATA (no traffic in the capture window) and
-- SKIPDATA (records skipped: capacity constraint or internal error), and how many interfaces had them.
-- Many SKIPDATA records mean the flow log is losing data.
-- Runs as is on Athena, DuckDB and Spark SQL against the table `flowlake ddl` creates (vpc_flow_logs).
SELECT
  year,
  month,
  day,
  log_status,
  count(*) AS records,
  count(DISTINCT interface_id) AS interfaces
FROM vpc_flow_logs
WHERE log_status IN ('NODATA', 'SKIPDATA')
GROUP BY year, month, day, log_status
ORDER BY year, month, day, log_status;
