-- One IP address over a time range, hour by hour: flows to or from it, bytes, distinct peers, and how
-- many of its flows were rejected.
-- Parameters: {{ip}} (an address), {{from}} and {{to}} (unix seconds; start >= from and start < to).
-- Replace them by hand, or run: scripts/query ip_activity --lake LAKE ip=10.0.0.1 from=... to=...
-- On a large lake add the matching partition filter, e.g. AND year = '2024' AND month = '03'.
SELECT
  start - start % 3600 AS hour_start,
  count(*) AS flows,
  sum(bytes) AS total_bytes,
  count(DISTINCT CASE WHEN srcaddr = '{{ip}}' THEN dstaddr ELSE srcaddr END) AS peers,
  sum(CASE WHEN action = 'REJECT' THEN 1 ELSE 0 END) AS rejected
FROM vpc_flow_logs
WHERE (srcaddr = '{{ip}}' OR dstaddr = '{{ip}}')
  AND start >= {{from}} AND start < {{to}}
GROUP BY start - start % 3600
ORDER BY hour_start;
