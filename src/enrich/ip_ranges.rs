//! AWS's `ip-ranges.json`: which AWS service and region an address belongs to.
//!
//! An address can match several entries: AWS lists every range under `AMAZON` and again under the
//! services that use it (`EC2`, `S3`, ...), and some ranges under several services at once (`EC2` and
//! `ROUTE53_HEALTHCHECKS`). The answer is the entry of a service other than `AMAZON` with the longest
//! prefix holding the address, and among that prefix's services the most specific one: the one whose
//! ranges in the file cover the fewest addresses of that family (`ROUTE53_HEALTHCHECKS` before `EC2`,
//! `CLOUDFRONT_ORIGIN_FACING` before `CLOUDFRONT`; name order on a tie). `AMAZON` (with its longest
//! prefix) only when no other service's range holds the address. The region is that entry's.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::enrich::address::{Network, PrefixTable};
use crate::enrich::{DataError, DataKind, DataVersion};

/// The service AWS lists every range under.
pub const AMAZON: &str = "AMAZON";

/// The service and region of an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub service: Arc<str>,
    pub region: Arc<str>,
}

/// `ip-ranges.json`, ready for lookups.
#[derive(Debug, Clone)]
pub struct IpRanges {
    /// Each prefix's most specific non-`AMAZON` entry and its `AMAZON` entry.
    table: PrefixTable<Entries>,
    version: DataVersion,
}

/// The entries of one prefix.
#[derive(Debug, Clone, Default)]
struct Entries {
    service: Option<Range>,
    amazon: Option<Range>,
}

#[derive(serde::Deserialize)]
struct File {
    #[serde(rename = "syncToken")]
    sync_token: String,
    #[serde(rename = "createDate")]
    create_date: String,
    prefixes: Vec<V4Entry>,
    #[serde(default)]
    ipv6_prefixes: Vec<V6Entry>,
}

#[derive(serde::Deserialize)]
struct V4Entry {
    ip_prefix: String,
    region: String,
    service: String,
}

#[derive(serde::Deserialize)]
struct V6Entry {
    ipv6_prefix: String,
    region: String,
    service: String,
}

impl IpRanges {
    /// Reads the JSON of `file` (its name, for messages and the version it records).
    pub fn from_json(file: &str, bytes: &[u8]) -> Result<IpRanges, DataError> {
        let err = |message: String| DataError {
            flag: DataKind::IpRanges.flag(),
            file: file.to_string(),
            message,
        };
        let parsed: File = serde_json::from_slice(bytes).map_err(|e| {
            err(format!(
                "not AWS's ip-ranges.json (an object with syncToken, createDate, prefixes and \
                 ipv6_prefixes): {e}"
            ))
        })?;
        let entries: Vec<(&str, &str, &str)> = parsed
            .prefixes
            .iter()
            .map(|e| (e.ip_prefix.as_str(), e.region.as_str(), e.service.as_str()))
            .chain(parsed.ipv6_prefixes.iter().map(|e| {
                (
                    e.ipv6_prefix.as_str(),
                    e.region.as_str(),
                    e.service.as_str(),
                )
            }))
            .collect();
        if entries.is_empty() {
            return Err(err("it lists no prefixes".into()));
        }
        let mut networks = Vec::with_capacity(entries.len());
        for (prefix, _, _) in &entries {
            let network = Network::parse(prefix)
                .ok_or_else(|| err(format!("`{prefix}` is not a network (address/length)")))?;
            networks.push(network);
        }
        // How many addresses each service's ranges cover, per family: fewer is more specific.
        let mut cover: HashMap<(bool, &str), f64> = HashMap::new();
        for (n, (_, _, service)) in networks.iter().zip(&entries) {
            *cover
                .entry((matches!(n, Network::V4(..)), service))
                .or_default() += n.size();
        }
        let mut strings: HashMap<String, Arc<str>> = HashMap::new();
        let mut intern = |s: &str| -> Arc<str> {
            if let Some(a) = strings.get(s) {
                return a.clone();
            }
            let a: Arc<str> = Arc::from(s);
            strings.insert(s.to_string(), a.clone());
            a
        };
        let mut table: PrefixTable<Entries> = PrefixTable::default();
        // The most specific service of each prefix: (coverage, name, region).
        let mut chosen: HashMap<Network, (f64, &str, &str)> = HashMap::new();
        for (network, &(_, region, service)) in networks.iter().zip(&entries) {
            if service == AMAZON {
                let range = Range {
                    service: intern(service),
                    region: intern(region),
                };
                let entries = table.entry(*network, Entries::default);
                entries.amazon.get_or_insert(range);
                continue;
            }
            let coverage = cover[&(matches!(network, Network::V4(..)), service)];
            let better = match chosen.get(network) {
                None => true,
                Some(&(c, name, _)) => coverage < c || (coverage == c && service < name),
            };
            if better {
                chosen.insert(*network, (coverage, service, region));
            }
        }
        for (network, (_, service, region)) in chosen {
            let range = Range {
                service: intern(service),
                region: intern(region),
            };
            table.entry(network, Entries::default).service = Some(range);
        }
        Ok(IpRanges {
            table,
            version: DataVersion {
                data: DataKind::IpRanges,
                file: file.to_string(),
                version: parsed.sync_token,
                made: parsed.create_date,
            },
        })
    }

    /// The service and region of a (public) address, `None` when no range holds it.
    pub fn lookup(&self, ip: IpAddr) -> Option<&Range> {
        let mut amazon = None;
        for (_, entries) in self.table.holding(ip) {
            if let Some(service) = &entries.service {
                return Some(service);
            }
            amazon = amazon.or(entries.amazon.as_ref());
        }
        amazon
    }

    pub fn version(&self) -> &DataVersion {
        &self.version
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(json: &str) -> IpRanges {
        IpRanges::from_json("ip-ranges.json", json.as_bytes()).unwrap()
    }

    fn service(r: &IpRanges, ip: &str) -> Option<(String, String)> {
        r.lookup(ip.parse().unwrap())
            .map(|r| (r.service.to_string(), r.region.to_string()))
    }

    const SMALL: &str = r#"{"syncToken":"1","createDate":"2026-01-01-00-00-00","prefixes":[
        {"ip_prefix":"15.177.0.0/18","region":"GLOBAL","service":"AMAZON","network_border_group":"GLOBAL"},
        {"ip_prefix":"15.177.0.0/18","region":"GLOBAL","service":"EC2","network_border_group":"GLOBAL"},
        {"ip_prefix":"15.177.0.0/18","region":"GLOBAL","service":"ROUTE53_HEALTHCHECKS","network_border_group":"GLOBAL"},
        {"ip_prefix":"3.0.0.0/9","region":"us-east-1","service":"EC2","network_border_group":"us-east-1"},
        {"ip_prefix":"54.239.0.0/28","region":"us-east-1","service":"AMAZON","network_border_group":"us-east-1"}
        ],"ipv6_prefixes":[
        {"ipv6_prefix":"2600:1f00::/24","region":"us-east-1","service":"AMAZON","network_border_group":"us-east-1"},
        {"ipv6_prefix":"2600:1f18::/33","region":"us-east-1","service":"S3","network_border_group":"us-east-1"}
        ]}"#;

    #[test]
    fn the_most_specific_service_of_the_longest_prefix() {
        let r = ranges(SMALL);
        let s = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
        assert_eq!(
            service(&r, "15.177.1.2"),
            s("ROUTE53_HEALTHCHECKS", "GLOBAL")
        );
        assert_eq!(service(&r, "3.5.140.1"), s("EC2", "us-east-1"));
        assert_eq!(service(&r, "54.239.0.1"), s("AMAZON", "us-east-1"));
        assert_eq!(service(&r, "54.239.0.16"), None);
        assert_eq!(service(&r, "2600:1f18::1"), s("S3", "us-east-1"));
        assert_eq!(service(&r, "2600:1f19::1"), s("AMAZON", "us-east-1"));
        assert_eq!(r.version().version, "1");
    }

    #[test]
    fn a_file_of_another_shape_is_an_error_naming_it() {
        for bad in [
            "not json",
            "{}",
            r#"{"syncToken":"1","createDate":"x","prefixes":[]}"#,
            r#"{"syncToken":"1","createDate":"x","prefixes":[{"ip_prefix":"3.0.0.0/40","region":"r","service":"S3"}]}"#,
        ] {
            let e = IpRanges::from_json("ranges.json", bad.as_bytes()).unwrap_err();
            assert!(
                e.to_string().starts_with("--ip-ranges ranges.json: "),
                "{e}"
            );
        }
    }
}
