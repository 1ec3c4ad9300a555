-- Failed SSH and RDP attempts by source address: rejected TCP flows to port 22 or 3389, with how many
-- hosts each source tried and when it was first and last seen (unix seconds).
-- Runs as is on Athena, DuckDB and Spark SQL against the table `flowlake ddl` creates (vpc_flow_logs).
SELECT
  srcaddr,
  CASE dstport WHEN 22 THEN 'ssh' ELSE 'rdp' END AS service,
  count(*) AS attempts,
  count(DISTINCT dstaddr) AS targets,
  min(start) AS first_seen,
  max(start) AS last_seen
FROM vpc_flow_logs
WHERE action = 'REJECT' AND protocol = 6 AND dstport IN (22, 3389)
GROUP BY srcaddr, dstport
ORDER BY attempts DESC, srcaddr, service
LIMIT 50;
