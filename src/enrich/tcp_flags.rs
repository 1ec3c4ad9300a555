//! TCP flag names of a `tcp-flags` bit mask (the `tcp_flags_names` column).

/// Flag names by bit, lowest first (RFC 9293, RFC 3168).
pub const FLAGS: [&str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];

/// The names of the bits set in `mask`, in bit order; `None` for a value that is no 8-bit mask
/// (negative or above 255).
pub fn names(mask: i64) -> Option<impl Iterator<Item = &'static str>> {
    let mask = u8::try_from(mask).ok()?;
    Some(
        FLAGS
            .iter()
            .enumerate()
            .filter(move |(bit, _)| mask & (1 << bit) != 0)
            .map(|(_, name)| *name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(mask: i64) -> Option<Vec<&'static str>> {
        names(mask).map(|n| n.collect())
    }

    #[test]
    fn bits_in_order() {
        assert_eq!(of(19), Some(vec!["FIN", "SYN", "ACK"]));
        assert_eq!(of(2), Some(vec!["SYN"]));
        assert_eq!(of(0), Some(vec![]));
        assert_eq!(of(255).map(|v| v.len()), Some(8));
        assert_eq!(of(256), None);
        assert_eq!(of(-1), None);
    }
}
