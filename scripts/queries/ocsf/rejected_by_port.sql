-- Rejected connections by destination port and protocol, over an OCSF lake (`convert --schema ocsf`):
-- the answers ../rejected_by_port.sql gives on an AWS-schema lake of the same input.
-- Runs as is on Athena, DuckDB and Spark SQL against the table `flowlake ddl` creates (ocsf_vpc_flow).
-- A source is counted by the interface's address (AWS's srcaddr): the endpoint's intermediate address
-- where the packet's own differs, else its address.
-- To read fewer partitions, add e.g. AND eventDay = '20240309'.
SELECT
  dst_endpoint.port AS dstport,
  connection_info.protocol_num AS protocol,
  count(*) AS flows,
  sum(traffic.packets) AS total_packets,
  count(DISTINCT coalesce(nullif(concat_ws('', src_endpoint.intermediate_ips), ''), src_endpoint.ip)) AS sources
FROM ocsf_vpc_flow
WHERE action_id = 2
GROUP BY dst_endpoint.port, connection_info.protocol_num
ORDER BY flows DESC, dstport, protocol
LIMIT 20;
