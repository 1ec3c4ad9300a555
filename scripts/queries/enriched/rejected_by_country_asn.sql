-- Rejected sources by country and network: where the connections that security groups and NACLs
-- block come from (the columns of `--enrich geo`: the MaxMind country and autonomous system of the
-- source address; private and reserved sources have neither and are left out).
-- Runs as is on Athena, DuckDB and Spark SQL against the table `flowlake ddl` creates (vpc_flow_logs)
-- of a lake converted with --enrich geo (--geoip-country and --geoip-asn).
-- To read fewer partitions, add e.g. AND year = '2024' AND month = '03' AND day = '09'.
SELECT
  src_country,
  src_asn,
  src_as_org,
  count(*) AS flows,
  count(DISTINCT srcaddr) AS sources,
  coalesce(sum(packets), 0) AS total_packets
FROM vpc_flow_logs
WHERE action = 'REJECT' AND (src_country IS NOT NULL OR src_asn IS NOT NULL)
GROUP BY src_country, src_asn, src_as_org
ORDER BY flows DESC, coalesce(src_country, ''), coalesce(src_asn, -1), coalesce(src_as_org, '')
LIMIT 20;
