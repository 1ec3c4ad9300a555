//! SQL text built from outside data (lake paths, `--location`, `--table`/`--database` names, folder
//! keys and values, column names): each value is written as one inert token, or refused with an error
//! that names it; no byte of data ever ends a comment, a literal or an identifier early.
//!
//! The rules, per place:
//! - comments show a value [`escaped`]: printable text as is, `\` as `\\`, every other character as
//!   `\n`, `\r`, `\t` or `\u{..}`, and bytes that are not UTF-8 as `\xNN`, so a comment stays on its
//!   line and still names the value exactly (lossless: the escapes decode back to the bytes);
//! - DuckDB string literals double `'` and spell a character that is not [`plain`] as `chr(N)`
//!   joined with `||` (DuckDB folds the constant expression, even in `read_parquet`'s argument), so
//!   they still name the real path, on one line; in the path part of a glob, `*`, `?` and `[` match
//!   only themselves (`[*]`), and `\` is refused (DuckDB's glob reads it as a folder separator);
//! - Athena (Hive DDL) string literals cannot carry `'` or `\` safely: Hive reads `\` as an escape and
//!   `''` as two adjacent strings (the quote is lost), while Trino-family and ANSI parsers read `\` as
//!   a plain character, so `\'` would end the literal there. Both are refused, and so is every
//!   character that is not [`plain`] (Hive has no `chr()` in DDL), and `${` in any Hive text (Hive
//!   and Spark substitute `${...}` variables before parsing, inside quotes too);
//! - identifiers are quoted (`"..."` doubling `"` for DuckDB, `` `...` `` doubling `` ` `` for Hive),
//!   must not be empty and must be [`plain`].
//!
//! A path that is not UTF-8 cannot be named by SQL text (statements are UTF-8, and so are DuckDB's
//! strings and Athena's locations): where a literal must name it, it is refused with a hint to pass
//! `--location`; in a comment or a message it is shown losslessly with `\xNN`.

use std::fmt;

/// Which value a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `--table`.
    Table,
    /// `--database`.
    Database,
    /// `--location`.
    Location,
    /// The lake's own path or URL (the location when `--location` is not given).
    Lake,
    /// A partition key, from a folder name `key=value`.
    PartitionKey,
    /// A partition value, from a folder name `key=value`.
    PartitionValue,
    /// A column (or struct field) name, from a Parquet footer.
    Column,
}

impl Source {
    /// True when the value is a command-line argument (a usage error), not something found in the lake.
    pub fn is_argument(self) -> bool {
        matches!(
            self,
            Source::Table | Source::Database | Source::Location | Source::Lake
        )
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Table => "--table name",
            Source::Database => "--database name",
            Source::Location => "--location",
            Source::Lake => "lake path",
            Source::PartitionKey => "partition key",
            Source::PartitionValue => "partition value",
            Source::Column => "column name",
        })
    }
}

/// Why a character cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// A control, format (bidi, zero-width) or line-breaking character.
    Unprintable,
    /// `'` or `\` in an Athena (Hive DDL) string literal.
    HiveQuote,
    /// U+FFFD: what bytes that are not UTF-8 become when a folder name is read as text.
    Replacement,
    /// `,` in a value of Athena's enum projection, which lists values separated by commas.
    EnumComma,
    /// A partition key character other than ASCII letters, digits, `_` and `-`.
    KeyChar,
    /// `\` in a path DuckDB globs: its glob reads `\` as a folder separator, with no escape.
    GlobBackslash,
    /// `${` in Hive DDL text: Hive and Spark substitute `${...}` variables everywhere in a statement,
    /// literals included, and Athena's `storage.location.template` reads it as a placeholder.
    Substitution,
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Why::Unprintable => {
                "a control, format or line-breaking character, which SQL text must not carry"
            }
            Why::HiveQuote => {
                "which Athena DDL cannot quote safely: Hive DDL reads \\ as an escape and '' as two \
                 adjacent strings, other SQL parsers do not"
            }
            Why::Replacement => {
                "the replacement character, which stands for bytes that are not UTF-8 in a folder \
                 name: Athena would look for another folder"
            }
            Why::EnumComma => {
                "which Athena's enum partition projection reads as a separator between values"
            }
            Why::KeyChar => {
                "which partition key names cannot hold: they are spelled into property names, \
                 ${key} templates and globs (ASCII letters, digits, _ and - only)"
            }
            Why::Substitution => {
                "followed by `{`, which Hive and Spark substitute as a variable even inside quotes \
                 and Athena's storage.location.template reads as a partition placeholder"
            }
            Why::GlobBackslash => {
                "which DuckDB's read_parquet glob reads as a folder separator (it has no escape for it)"
            }
        })
    }
}

/// A value that cannot be written into the statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// A path or URL that is not UTF-8, where a literal must name it.
    #[error("{what} \"{shown}\" is not UTF-8: SQL text cannot name it{}", hint(*what))]
    NotUtf8 { what: Source, shown: String },
    /// A character that cannot be written.
    #[error("{what} \"{shown}\" holds {}, {why}{}", char_name(*ch), hint(*what))]
    Char {
        what: Source,
        shown: String,
        ch: char,
        why: Why,
    },
    /// An empty name.
    #[error("{what} is empty")]
    Empty { what: Source },
}

impl Refused {
    /// Which value is refused.
    pub fn what(&self) -> Source {
        match self {
            Refused::NotUtf8 { what, .. }
            | Refused::Char { what, .. }
            | Refused::Empty { what } => *what,
        }
    }
}

fn hint(what: Source) -> &'static str {
    match what {
        Source::Lake => {
            "; pass --location with the URL where engines read the lake, or move it to a plain path"
        }
        Source::PartitionKey | Source::PartitionValue => "; rename the folder",
        _ => "",
    }
}

/// `U+000A` for a character, with the character itself when it is printable.
fn char_name(c: char) -> String {
    if plain(c) {
        format!("`{c}` (U+{:04X})", c as u32)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

/// True for characters written as they are: printable ASCII, and any other character that is not a
/// control, whitespace (line and paragraph separators, NEL, ...) or format character (bidi
/// overrides, zero-width characters, ...). No plain character ends a line or reorders text.
pub fn plain(c: char) -> bool {
    if c.is_ascii() {
        return c == ' ' || c.is_ascii_graphic();
    }
    !c.is_control() && !c.is_whitespace() && !is_format(c)
}

/// Unicode's format characters (general category Cf).
fn is_format(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF
        | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

/// Bytes as one line of text for a comment or a message (see the module doc): lossless, and every
/// character in it is [`plain`].
pub fn escaped(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if plain(c) => out.push(c),
                c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// A path's bytes (on Unix exactly; elsewhere its text, lossily).
pub fn path_bytes(path: &std::path::Path) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        path.to_string_lossy().into_owned().into_bytes()
    }
}

/// The path as text for a literal, or [`Refused::NotUtf8`].
pub fn utf8_path(path: &std::path::Path, what: Source) -> Result<&str, Refused> {
    path.to_str().ok_or_else(|| Refused::NotUtf8 {
        what,
        shown: escaped(&path_bytes(path)),
    })
}

/// The first character of `text` that `refuse` gives a reason for, as a [`Refused::Char`].
fn check(text: &str, what: Source, refuse: impl Fn(char) -> Option<Why>) -> Result<(), Refused> {
    match text.chars().find_map(|c| refuse(c).map(|why| (c, why))) {
        Some((ch, why)) => Err(Refused::Char {
            what,
            shown: escaped(text.as_bytes()),
            ch,
            why,
        }),
        None => Ok(()),
    }
}

fn unprintable(c: char) -> Option<Why> {
    (!plain(c)).then_some(Why::Unprintable)
}

fn nonempty(text: &str, what: Source) -> Result<(), Refused> {
    if text.is_empty() {
        Err(Refused::Empty { what })
    } else {
        Ok(())
    }
}

/// A DuckDB string literal naming exactly `text`, on one line (see the module doc).
pub fn duckdb_string(text: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut run: Option<String> = None;
    for c in text.chars() {
        if plain(c) {
            let r = run.get_or_insert_with(String::new);
            if c == '\'' {
                r.push_str("''");
            } else {
                r.push(c);
            }
        } else {
            if let Some(r) = run.take() {
                parts.push(format!("'{r}'"));
            }
            parts.push(format!("chr({})", c as u32));
        }
    }
    if let Some(r) = run.take() {
        parts.push(format!("'{r}'"));
    }
    if parts.is_empty() {
        return "''".into();
    }
    parts.join(" || ")
}

/// `path` as the fixed start of a DuckDB glob: `*`, `?` and `[` each in a one-character class
/// (`[*]`), so they match only themselves; `\` is refused (DuckDB's glob reads it as a separator).
pub fn duckdb_glob_prefix(path: &str, what: Source) -> Result<String, Refused> {
    check(path, what, |c| (c == '\\').then_some(Why::GlobBackslash))?;
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '*' | '?' | '[' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// A DuckDB quoted identifier.
pub fn duckdb_ident(name: &str, what: Source) -> Result<String, Refused> {
    nonempty(name, what)?;
    check(name, what, unprintable)?;
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// An Athena (Hive DDL) string literal, or why `text` cannot be one (see the module doc).
pub fn hive_string(text: &str, what: Source) -> Result<String, Refused> {
    check(text, what, |c| match c {
        '\'' | '\\' => Some(Why::HiveQuote),
        '\u{FFFD}' => Some(Why::Replacement),
        c => unprintable(c),
    })?;
    no_substitution(text, what)?;
    Ok(format!("'{text}'"))
}

/// An Athena (Hive DDL) quoted identifier.
pub fn hive_ident(name: &str, what: Source) -> Result<String, Refused> {
    nonempty(name, what)?;
    check(name, what, |c| match c {
        '\u{FFFD}' => Some(Why::Replacement),
        c => unprintable(c),
    })?;
    no_substitution(name, what)?;
    Ok(format!("`{}`", name.replace('`', "``")))
}

/// Refuses `${` (see [`Why::Substitution`]); the placeholders of `storage.location.template` are
/// added after the location is checked.
fn no_substitution(text: &str, what: Source) -> Result<(), Refused> {
    if text.contains("${") {
        return Err(Refused::Char {
            what,
            shown: escaped(text.as_bytes()),
            ch: '$',
            why: Why::Substitution,
        });
    }
    Ok(())
}

/// A value of Athena's enum partition projection: a [`hive_string`] without commas.
pub fn enum_value(value: &str) -> Result<&str, Refused> {
    check(value, Source::PartitionValue, |c| {
        (c == ',').then_some(Why::EnumComma)
    })?;
    hive_string(value, Source::PartitionValue)?;
    Ok(value)
}

/// A partition key name: ASCII letters, digits, `_` and `-` (it is spelled, unquoted, into
/// `projection.<key>.type` property names, `${key}` templates and DuckDB globs).
pub fn partition_key(name: &str) -> Result<&str, Refused> {
    nonempty(name, Source::PartitionKey)?;
    check(name, Source::PartitionKey, |c| {
        (!(c.is_ascii_alphanumeric() || c == '_' || c == '-')).then_some(Why::KeyChar)
    })?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_text_is_one_plain_line_and_lossless() {
        assert_eq!(escaped(b"/data/caf\xc3\xa9/lake"), "/data/café/lake");
        assert_eq!(
            escaped(b"a\nb\r\\\x00\xff'\xe2\x80\xa8\xc2\x85"),
            "a\\nb\\r\\\\\\u{0}\\xff'\\u{2028}\\u{85}"
        );
        assert_eq!(escaped("x\u{202E}y".as_bytes()), "x\\u{202e}y");
    }

    #[test]
    fn duckdb_strings_spell_line_breaks_with_chr() {
        assert_eq!(duckdb_string(""), "''");
        assert_eq!(duckdb_string("it's"), "'it''s'");
        assert_eq!(
            duckdb_string("a\nselect 'x'; --\u{2028}"),
            "'a' || chr(10) || 'select ''x''; --' || chr(8232)"
        );
        assert_eq!(duckdb_string("\r"), "chr(13)");
        assert_eq!(
            duckdb_glob_prefix("/a[1]/b*?/", Source::Lake).unwrap(),
            "/a[[]1]/b[*][?]/"
        );
        assert!(duckdb_glob_prefix("/a\\b/", Source::Lake).is_err());
    }

    #[test]
    fn hive_literals_refuse_what_engines_read_differently() {
        assert_eq!(
            hive_string("s3://b/p/", Source::Location).unwrap(),
            "'s3://b/p/'"
        );
        let err = hive_string("s3://b/it's", Source::Location).unwrap_err();
        assert!(matches!(
            err,
            Refused::Char {
                ch: '\'',
                why: Why::HiveQuote,
                ..
            }
        ));
        assert!(err
            .to_string()
            .starts_with("--location \"s3://b/it's\" holds `'`"));
        assert!(hive_string("a\\b", Source::Location).is_err());
        let err = hive_string("a\nb", Source::Lake).unwrap_err();
        assert_eq!(
            err.to_string().lines().count(),
            1,
            "the message itself stays on one line: {err}"
        );
        assert!(err.to_string().contains("\"a\\nb\" holds U+000A"), "{err}");
        assert_eq!(hive_ident("a`b", Source::Table).unwrap(), "`a``b`");
        assert_eq!(
            hive_ident("", Source::Table).unwrap_err(),
            Refused::Empty {
                what: Source::Table
            }
        );
        assert!(enum_value("eu,west").is_err());
        assert!(hive_string("s3://b/${env:HOME}/", Source::Location).is_err());
        assert!(hive_ident("t${x}", Source::Table).is_err());
        assert_eq!(
            hive_string("s3://b/$x{}/", Source::Location).unwrap(),
            "'s3://b/$x{}/'"
        );
        assert_eq!(partition_key("aws-account-id").unwrap(), "aws-account-id");
        assert!(partition_key("a.b").is_err());
        assert_eq!(duckdb_ident("a\"b", Source::Table).unwrap(), "\"a\"\"b\"");
        assert!(duckdb_ident("a\u{85}b", Source::Table).is_err());
    }
}
