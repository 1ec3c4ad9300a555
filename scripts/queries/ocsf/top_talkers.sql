-- Top talkers over an OCSF lake (`convert --schema ocsf`): the source addresses that sent the most
-- bytes (accepted and rejected flows), the answers ../top_talkers.sql gives on an AWS-schema lake of
-- the same input. The address is the interface's (AWS's srcaddr): the endpoint's intermediate address
-- where the packet's own differs, else its address.
-- Runs as is on Athena, DuckDB and Spark SQL against the table `flowlake ddl` creates (ocsf_vpc_flow).
SELECT
  coalesce(nullif(concat_ws('', src_endpoint.intermediate_ips), ''), src_endpoint.ip) AS srcaddr,
  sum(traffic.bytes) AS total_bytes,
  sum(traffic.packets) AS total_packets,
  count(*) AS flows
FROM ocsf_vpc_flow
WHERE status_code = 'OK'
GROUP BY coalesce(nullif(concat_ws('', src_endpoint.intermediate_ips), ''), src_endpoint.ip)
ORDER BY total_bytes DESC, srcaddr
LIMIT 10;
