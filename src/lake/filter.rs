//! Which records a lake holds: the flow log setting users know ("All, Accept or Reject" traffic,
//! `--action`) and the NODATA/SKIPDATA noise they drop (`--drop-log-status`). A lake records its
//! filters in `lake.json`, so every run on it keeps the same records.

/// Which traffic a lake keeps, by the record's `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionFilter {
    /// Every record, whatever its action (NODATA/SKIPDATA records, whose action is `-`, too).
    #[default]
    All,
    /// `ACCEPT` records only.
    Accept,
    /// `REJECT` records only.
    Reject,
}

/// A `log-status` value.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LogStatus {
    /// Data is logging normally.
    Ok,
    /// No network traffic to or from the interface during the aggregation interval.
    Nodata,
    /// Some records were skipped during the aggregation interval.
    Skipdata,
}

impl LogStatus {
    /// The value as flow log records write it.
    pub fn as_record(self) -> &'static str {
        match self {
            LogStatus::Ok => "OK",
            LogStatus::Nodata => "NODATA",
            LogStatus::Skipdata => "SKIPDATA",
        }
    }
}

/// The records a lake keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Filters {
    #[serde(default)]
    pub action: ActionFilter,
    /// Records with these `log-status` values are dropped.
    #[serde(default)]
    pub drop_log_status: Vec<LogStatus>,
}

/// Why one record is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    Action,
    LogStatus,
}

impl Filters {
    /// True when every record is kept.
    pub fn keeps_all(&self) -> bool {
        self.action == ActionFilter::All && self.drop_log_status.is_empty()
    }

    /// True when the filters need the record's `action` field.
    pub fn needs_action(&self) -> bool {
        self.action != ActionFilter::All
    }

    /// True when the filters need the record's `log-status` field.
    pub fn needs_log_status(&self) -> bool {
        !self.drop_log_status.is_empty()
    }

    /// Whether a record with these `action` and `log-status` values (as written, `None` when the
    /// format lacks the field) is kept; `Err` says which filter drops it.
    pub fn check(&self, action: Option<&[u8]>, log_status: Option<&[u8]>) -> Result<(), Dropped> {
        let wanted: &[u8] = match self.action {
            ActionFilter::All => b"",
            ActionFilter::Accept => b"ACCEPT",
            ActionFilter::Reject => b"REJECT",
        };
        if !wanted.is_empty() && action != Some(wanted) {
            return Err(Dropped::Action);
        }
        if let Some(status) = log_status {
            if self
                .drop_log_status
                .iter()
                .any(|s| s.as_record().as_bytes() == status)
            {
                return Err(Dropped::LogStatus);
            }
        }
        Ok(())
    }

    /// A line for messages and the DDL: what the lake holds.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match self.action {
            ActionFilter::All => {}
            ActionFilter::Accept => parts.push("ACCEPT records only".to_string()),
            ActionFilter::Reject => parts.push("REJECT records only".to_string()),
        }
        if !self.drop_log_status.is_empty() {
            let names: Vec<&str> = self.drop_log_status.iter().map(|s| s.as_record()).collect();
            parts.push(format!("without {} records", names.join("/")));
        }
        if parts.is_empty() {
            "every record".into()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_and_status_filters() {
        let all = Filters::default();
        assert!(all.keeps_all());
        assert_eq!(all.check(Some(b"-"), Some(b"NODATA")), Ok(()));
        let accept = Filters {
            action: ActionFilter::Accept,
            drop_log_status: vec![],
        };
        assert_eq!(accept.check(Some(b"ACCEPT"), Some(b"OK")), Ok(()));
        assert_eq!(
            accept.check(Some(b"REJECT"), Some(b"OK")),
            Err(Dropped::Action)
        );
        assert_eq!(
            accept.check(Some(b"-"), Some(b"NODATA")),
            Err(Dropped::Action),
            "NODATA records have no action"
        );
        let quiet = Filters {
            action: ActionFilter::All,
            drop_log_status: vec![LogStatus::Nodata, LogStatus::Skipdata],
        };
        assert_eq!(
            quiet.check(Some(b"-"), Some(b"SKIPDATA")),
            Err(Dropped::LogStatus)
        );
        assert_eq!(quiet.check(Some(b"REJECT"), Some(b"OK")), Ok(()));
        assert_eq!(quiet.describe(), "without NODATA/SKIPDATA records");
        let json = serde_json::to_string(&quiet).unwrap();
        assert_eq!(
            json,
            r#"{"action":"all","drop_log_status":["nodata","skipdata"]}"#
        );
        assert_eq!(
            serde_json::from_str::<Filters>("{}").unwrap(),
            Filters::default()
        );
    }
}
