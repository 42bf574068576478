//! Finds the line and column of a key path such as `services[1].real_servers[0].weight`.
//!
//! Validation runs on typed values, which carry no positions, and serde_yaml_ng has no spanned values.
//! But its errors do carry the position of the node being read when they were raised. So to place a
//! rule violation, we deserialize the text once more with a seed that walks down the path, skipping
//! everything else, and fails on purpose at the target node; the position of that failure is the
//! answer. This costs one extra parse, only on the error path, and needs no second YAML library.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::error::Location;

/// The error text the walker raises at its target, to tell it apart from any other error.
const FOUND: &str = "vsd-config-locate: found";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits `a.b[2].c` into steps; `None` if the path is malformed.
fn steps(path: &str) -> Option<Vec<Step<'_>>> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (key, mut indices) = part.split_once('[').map_or((part, ""), |(key, rest)| (key, rest));
        if !key.is_empty() {
            steps.push(Step::Key(key));
        }
        while !indices.is_empty() {
            let (index, rest) = indices.split_once(']')?;
            steps.push(Step::Index(index.parse().ok()?));
            indices = rest.strip_prefix('[').unwrap_or(rest);
        }
    }
    Some(steps)
}

/// Line and column of the node at `path` in `text`, if the path exists.
pub fn locate(text: &str, path: &str) -> Option<Location> {
    let steps = steps(path)?;
    let deserializer = serde_yaml_ng::Deserializer::from_str(text);
    match Walk(&steps).deserialize(deserializer) {
        Err(error) if error.to_string().contains(FOUND) => {
            error.location().map(|at| Location { line: at.line(), column: at.column() })
        }
        _ => None,
    }
}

/// Walks the remaining steps; at the end it fails with [`FOUND`].
struct Walk<'s, 'p>(&'s [Step<'p>]);

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        // Going through a `deserialize_*` call even at the target lets serde_yaml_ng attach the
        // target's own position to the error.
        match self.0.first() {
            None => deserializer.deserialize_any(Target),
            Some(Step::Key(_)) => deserializer.deserialize_map(self),
            Some(Step::Index(_)) => deserializer.deserialize_seq(self),
        }
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the node on the path")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Step::Key(wanted), rest)) = self.0.split_first() else { return Ok(()) };
        while let Some(key) = map.next_key::<String>()? {
            if key == *wanted {
                return map.next_value_seed(Walk(rest));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Step::Index(wanted), rest)) = self.0.split_first() else { return Ok(()) };
        for _ in 0..*wanted {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
        }
        seq.next_element_seed(Walk(rest)).map(|_| ())
    }
}

/// Accepts any node and refuses it with [`FOUND`].
struct Target;

impl<'de> Visitor<'de> for Target {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
services:
  - name: web
    vips: [198.18.0.100]
  - name: web2
    vips:
      - 198.18.0.100
      - 198.18.0.101
    real_servers:
      - { address: 198.19.0.11, weight: 70000 }
";

    #[test]
    fn parses_paths() {
        assert_eq!(
            steps("services[1].real_servers[0].weight"),
            Some(vec![
                Step::Key("services"),
                Step::Index(1),
                Step::Key("real_servers"),
                Step::Index(0),
                Step::Key("weight")
            ])
        );
        assert_eq!(steps("a[1][2]"), Some(vec![Step::Key("a"), Step::Index(1), Step::Index(2)]));
        assert_eq!(steps("a[x]"), None);
    }

    #[test]
    fn finds_scalars_mappings_and_flow_items() {
        assert_eq!(locate(TEXT, "services[1].vips[1]"), Some(Location { line: 7, column: 9 }));
        assert_eq!(locate(TEXT, "services[0].vips[0]"), Some(Location { line: 3, column: 12 }));
        assert_eq!(
            locate(TEXT, "services[1].real_servers[0].weight"),
            Some(Location { line: 9, column: 41 })
        );
        assert_eq!(locate(TEXT, "services[1].name"), Some(Location { line: 4, column: 11 }));
        assert_eq!(locate(TEXT, "services[1]").map(|at| at.line), Some(4));
    }

    #[test]
    fn missing_paths_have_no_location() {
        assert_eq!(locate(TEXT, "services[2]"), None);
        assert_eq!(locate(TEXT, "services[0].real_servers[0]"), None);
        assert_eq!(locate(TEXT, "routes"), None);
    }
}
