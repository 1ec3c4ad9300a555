//! Property tests: the zero-copy tokenizer, line splitter and record parser agree with obvious,
//! allocating reference implementations on arbitrary input.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int32Type, Int64Type};
use flowlake::text::batch::BatchBuilder;
use flowlake::text::layout::FieldLayout;
use flowlake::text::tokenize::{split_fields, Lines};
use proptest::prelude::*;

/// Reference: split on single spaces, drop empty fields.
fn reference_fields(line: &str) -> Vec<String> {
    line.split(' ')
        .filter(|f| !f.is_empty())
        .map(String::from)
        .collect()
}

/// Reference: split on `\n`, strip one trailing `\r`, no line after a final `\n`.
fn reference_lines(text: &[u8]) -> Vec<Vec<u8>> {
    if text.is_empty() {
        return vec![];
    }
    let mut lines: Vec<Vec<u8>> = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .collect();
    if text.ends_with(b"\n") {
        lines.pop();
    }
    lines
}

/// A field value for the test layout `srcport packets srcaddr`: valid, `-`, or junk.
#[derive(Debug, Clone)]
enum Value {
    Num(u64),
    Null,
    Junk(String),
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0u64..200_000).prop_map(Value::Num),
        1 => Just(Value::Null),
        1 => "[a-z.+-]{1,6}".prop_map(Value::Junk),
    ]
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Num(n) => n.to_string(),
            Value::Null => "-".into(),
            Value::Junk(s) => s.clone(),
        }
    }
    /// The parsed value if the field is acceptable for an integer column with this maximum.
    fn accept(&self, max: u64) -> Option<Option<u64>> {
        match self {
            Value::Num(n) if *n <= max => Some(Some(*n)),
            Value::Num(_) => None,
            Value::Null => Some(None),
            Value::Junk(s) if s == "-" => Some(None),
            Value::Junk(_) => None,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn split_fields_matches_reference(line in "[ a-z0-9.:-]{0,80}") {
        let mut spans = Vec::new();
        split_fields(line.as_bytes(), 0, &mut spans);
        let got: Vec<String> = spans.iter().map(|s| String::from_utf8(s.of(line.as_bytes()).to_vec()).unwrap()).collect();
        prop_assert_eq!(got, reference_fields(&line));
    }

    #[test]
    fn lines_match_reference(text in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(b' '), Just(b'a'), any::<u8>()], 0..200)) {
        let got: Vec<Vec<u8>> = Lines::new(&text).map(|l| l.text.to_vec()).collect();
        prop_assert_eq!(&got, &reference_lines(&text));
        // Offsets point at each line's first byte.
        for l in Lines::new(&text) {
            prop_assert_eq!(&text[l.offset..l.offset + l.text.len()], l.text);
        }
    }

    #[test]
    fn records_become_rows_or_rejects_exactly_as_the_reference_says(
        records in proptest::collection::vec((value(), value(), "[a-z0-9.]{1,12}|-", 0usize..3), 0..60)
    ) {
        let layout = FieldLayout::parse_format("srcport packets srcaddr").unwrap();
        let mut text = String::new();
        let mut expected = Vec::new();
        for (port, packets, addr, extra) in &records {
            // `extra` sometimes adds or removes a field: a wrong field count.
            let fields = match extra {
                0 => vec![port.text(), packets.text(), addr.clone()],
                1 => vec![port.text(), packets.text()],
                _ => vec![port.text(), packets.text(), addr.clone(), "x".into()],
            };
            text.push_str(&fields.join("  "));
            text.push('\n');
            if *extra == 0 {
                if let (Some(p), Some(n)) = (port.accept(65_535), packets.accept(i64::MAX as u64)) {
                    expected.push((p, n, (addr != "-").then(|| addr.clone())));
                }
            }
        }
        let buf = text.as_bytes();
        let mut builder = BatchBuilder::new();
        builder.start_layout(&layout);
        let mut spans = Vec::new();
        let mut rejected = 0;
        for line in Lines::new(buf) {
            split_fields(line.text, line.offset, &mut spans);
            if builder.append(buf, &spans, &layout, false).is_err() {
                rejected += 1;
            }
        }
        let batch = builder.finish(buf).unwrap();
        prop_assert_eq!(batch.num_rows() + rejected, records.len());
        prop_assert_eq!(batch.num_rows(), expected.len());
        let ports = batch.column_by_name("srcport").unwrap().as_primitive::<Int32Type>().clone();
        let packets = batch.column_by_name("packets").unwrap().as_primitive::<Int64Type>().clone();
        // String columns come keyed (a key per row into the batch's distinct values).
        let addrs = arrow::compute::cast(batch.column_by_name("srcaddr").unwrap(), &arrow::datatypes::DataType::Utf8).unwrap();
        let addrs = addrs.as_string::<i32>().clone();
        for (i, (p, n, a)) in expected.iter().enumerate() {
            prop_assert_eq!(ports.is_valid(i).then(|| ports.value(i) as u64), *p);
            prop_assert_eq!(packets.is_valid(i).then(|| packets.value(i) as u64), *n);
            prop_assert_eq!(addrs.is_valid(i).then(|| addrs.value(i).to_string()), a.clone());
        }
    }
}
