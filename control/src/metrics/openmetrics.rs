//! A strict parser of the text exposition formats, for tests: OpenMetrics 1.0 and Prometheus 0.0.4.
//!
//! The tests check the rendered text with it rather than with string matching, so that a malformed
//! line, a sample outside its family, a duplicate series or a missing `# EOF` fails them. It checks
//! the rules of the OpenMetrics 1.0 specification that an exporter can break: name and label syntax,
//! `TYPE` before samples, sample-name suffixes per type, unique families and series, counters
//! non-negative, info values 1, `UNIT` a suffix of the name, and `# EOF` last. Prometheus 0.0.4 has
//! the same shape without `UNIT`, `info` or `# EOF`, and counters carry `_total` in the family name.

use std::collections::HashSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Prometheus004,
}

#[derive(Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
}

#[derive(Debug)]
pub struct ParsedFamily {
    pub name: String,
    pub kind: String,
    pub help: Option<String>,
    pub unit: Option<String>,
    pub samples: Vec<Sample>,
}

impl ParsedFamily {
    /// The value of the sample whose labels include every `(name, value)` of `want`.
    pub fn value(&self, want: &[(&str, &str)]) -> Option<f64> {
        let mut found = self
            .samples
            .iter()
            .filter(|s| want.iter().all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v)));
        let first = found.next()?;
        assert!(found.next().is_none(), "{}: several samples match {want:?}", self.name);
        Some(first.value)
    }
}

fn is_name(s: &str, colon: bool) -> bool {
    let mut chars = s.chars();
    let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':');
    chars.next().is_some_and(ok_first)
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
}

type Labels = Vec<(String, String)>;

/// Parse `{a="x",b="y"}` at the start of `s`; returns the labels and the rest.
fn labels(s: &str) -> Result<(Labels, &str), String> {
    let Some(mut rest) = s.strip_prefix('{') else {
        return Ok((Vec::new(), s));
    };
    let mut out = Vec::new();
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((out, r));
        }
        if !out.is_empty() {
            rest = rest.strip_prefix(',').ok_or("labels not separated by ','")?;
        }
        let (name, r) = rest.split_once("=\"").ok_or("label without =\"")?;
        if !is_name(name, false) {
            return Err(format!("bad label name {name:?}"));
        }
        let mut value = String::new();
        let mut chars = r.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (_, c) => value.push(c),
            }
        };
        if out.iter().any(|(n, _): &(String, String)| n == name) {
            return Err(format!("label {name} twice"));
        }
        out.push((name.to_string(), value));
        rest = &r[end + 1..];
    }
}

fn number(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse::<f64>().map_err(|_| format!("bad number {s:?}")),
    }
}

/// The suffixes a sample of `kind` may add to its family name.
fn suffixes(kind: &str, format: Format) -> &'static [&'static str] {
    match (kind, format) {
        ("counter", Format::OpenMetrics) => &["_total", "_created"],
        ("info", Format::OpenMetrics) => &["_info"],
        _ => &[""],
    }
}

/// Parse and check a whole exposition.
pub fn parse(text: &str, format: Format) -> Result<Vec<ParsedFamily>, String> {
    let mut families: Vec<ParsedFamily> = Vec::new();
    let mut series = HashSet::new();
    let body = match format {
        Format::OpenMetrics => text.strip_suffix("# EOF\n").ok_or("does not end with \"# EOF\\n\"")?,
        Format::Prometheus004 => text,
    };
    for (n, line) in body.lines().enumerate() {
        let err = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if let Some(meta) = line.strip_prefix("# ") {
            let mut parts = meta.splitn(3, ' ');
            let (kw, name, rest) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if !is_name(name, true) {
                return Err(err("bad metric name".into()));
            }
            let cur = match families.last_mut() {
                Some(f) if f.name == name => f,
                _ => {
                    if families.iter().any(|f| f.name == name) {
                        return Err(err("family appears twice".into()));
                    }
                    families.push(ParsedFamily {
                        name: name.to_string(),
                        kind: "unknown".into(),
                        help: None,
                        unit: None,
                        samples: Vec::new(),
                    });
                    families.last_mut().expect("just pushed")
                }
            };
            if !cur.samples.is_empty() {
                return Err(err("metadata after samples".into()));
            }
            match kw {
                Some("HELP") => cur.help = Some(rest.to_string()),
                Some("TYPE") => {
                    let known: &[&str] = match format {
                        Format::OpenMetrics => {
                            &["counter", "gauge", "info", "histogram", "summary", "unknown"]
                        }
                        Format::Prometheus004 => &["counter", "gauge", "histogram", "summary", "untyped"],
                    };
                    if !known.contains(&rest) {
                        return Err(err(format!("unknown type {rest:?}")));
                    }
                    cur.kind = rest.to_string();
                }
                Some("UNIT") if format == Format::OpenMetrics => {
                    if !name.ends_with(&format!("_{rest}")) {
                        return Err(err("the unit is not a suffix of the name".into()));
                    }
                    cur.unit = Some(rest.to_string());
                }
                _ => return Err(err("unknown metadata line".into())),
            }
            continue;
        }
        let split = line.find(['{', ' ']).ok_or_else(|| err("no value".into()))?;
        let name = &line[..split];
        let (labels, rest) = labels(&line[split..]).map_err(err)?;
        let mut fields = rest.split(' ').filter(|s| !s.is_empty());
        let value = number(fields.next().ok_or_else(|| err("no value".into()))?).map_err(err)?;
        if let Some(ts) = fields.next() {
            number(ts).map_err(err)?;
        }
        if fields.next().is_some() {
            return Err(err("trailing text".into()));
        }
        let fam = families.last_mut().ok_or_else(|| err("sample before any TYPE".into()))?;
        if !suffixes(&fam.kind, format).iter().any(|s| format!("{}{s}", fam.name) == name) {
            return Err(err(format!("sample name does not belong to family {} ({})", fam.name, fam.kind)));
        }
        if (fam.kind == "counter" && value < 0.0) || (fam.kind == "info" && value != 1.0) {
            return Err(err(format!("value {value} is not allowed for a {}", fam.kind)));
        }
        let mut key = labels.clone();
        key.sort();
        if !series.insert((name.to_string(), key)) {
            return Err(err("duplicate series".into()));
        }
        fam.samples.push(Sample { name: name.to_string(), labels, value });
    }
    Ok(families)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "# HELP a_bytes Some bytes.\n# TYPE a_bytes counter\n# UNIT a_bytes bytes\n\
                        a_bytes_total{x=\"1\",y=\"q\\\"u\\\\o\\nte\"} 5\n\
                        # TYPE b info\nb_info{v=\"1.0\"} 1\n# TYPE c gauge\nc -3.5\n# EOF\n";

    #[test]
    fn parses_families_labels_and_values() {
        let f = parse(GOOD, Format::OpenMetrics).unwrap();
        assert_eq!(f.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["a_bytes", "b", "c"]);
        assert_eq!(f[0].unit.as_deref(), Some("bytes"));
        assert_eq!(f[0].samples[0].labels[1], ("y".to_string(), "q\"u\\o\nte".to_string()));
        assert_eq!(f[0].value(&[("x", "1")]), Some(5.0));
        assert_eq!(f[2].value(&[]), Some(-3.5));
    }

    #[test]
    fn refuses_what_the_spec_forbids() {
        let cases = [
            (GOOD.replace("# EOF\n", ""), "EOF"),
            (GOOD.replace("a_bytes_total{", "a_bytes{"), "belong"),
            (GOOD.replace("} 5", "} -5"), "not allowed"),
            (GOOD.replace("b_info{v=\"1.0\"} 1", "b_info{v=\"1.0\"} 2"), "not allowed"),
            (GOOD.replace("# UNIT a_bytes bytes", "# UNIT a_bytes seconds"), "suffix"),
            (GOOD.replace("c -3.5\n", "c -3.5\nc 1\n"), "duplicate"),
            (GOOD.replace("# TYPE c gauge\n", ""), "belong"),
            (GOOD.replace("x=\"1\"", "1x=\"1\""), "label name"),
            (GOOD.replace("# TYPE c gauge", "# TYPE c gauge\n# TYPE b gauge"), "twice"),
            (GOOD.replace("# TYPE c gauge", "# TYPE c sheep"), "unknown type"),
        ];
        for (text, why) in cases {
            let e = parse(&text, Format::OpenMetrics).expect_err(why);
            assert!(e.contains(why), "{e:?} should say {why:?}");
        }
    }
}
