-- Failed SSH and RDP attempts by source address, over an OCSF lake (`convert --schema ocsf`): rejected
-- TCP flows to port 22 or 3389, with how many hosts each source tried and when it was first and last
-- seen (unix seconds): the answers ../failed_ssh_rdp.sql gives on an AWS-schema lake of the same input.
-- Addresses are the interface's (AWS's srcaddr/dstaddr): the endpoint's intermediate address where the
-- packet's own differs, else its address.
-- Runs as is on Athena, DuckDB and Spark SQL against the table `flowlake ddl` creates (ocsf_vpc_flow).
SELECT
  coalesce(nullif(concat_ws('', src_endpoint.intermediate_ips), ''), src_endpoint.ip) AS srcaddr,
  CASE dst_endpoint.port WHEN 22 THEN 'ssh' ELSE 'rdp' END AS service,
  count(*) AS attempts,
  count(DISTINCT coalesce(nullif(concat_ws('', dst_endpoint.intermediate_ips), ''), dst_endpoint.ip)) AS targets,
  CAST(min(start_time) / 1000 AS BIGINT) AS first_seen,
  CAST(max(start_time) / 1000 AS BIGINT) AS last_seen
FROM ocsf_vpc_flow
WHERE action_id = 2 AND connection_info.protocol_num = 6 AND dst_endpoint.port IN (22, 3389)
GROUP BY coalesce(nullif(concat_ws('', src_endpoint.intermediate_ips), ''), src_endpoint.ip), dst_endpoint.port
ORDER BY attempts DESC, srcaddr, service
LIMIT 50;
