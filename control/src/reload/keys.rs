//! Which top-level config keys a reload applies live and which need a restart: one list, read by
//! the planner (which keys differ), the refusal message (which keys would apply) and a test that
//! holds docs/CONFIG.md's reload table to it.
//!
//! Keys are compared by their serialized values, so a key added to the schema but not here is
//! caught: it counts as needing a restart (the safe side) and the test below fails until it is
//! listed.

use crate::config::Config;
use serde_yaml_ng::{Mapping, Value};

/// What a change of a top-level key does on a reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effect {
    /// Applied by the next snapshot switch (weights and health checks by commands, without one).
    Live,
    /// Read once at start (EAL, ports and their queues, lcores, the owner function, the table's
    /// size, sockets): refused, with the key named.
    Restart,
}

/// Every top-level key of the config, in the schema's order.
pub const KEYS: &[(&str, Effect)] = &[
    ("dpdk", Effect::Restart),
    ("workers", Effect::Restart),
    ("interfaces", Effect::Restart),
    ("routes", Effect::Restart),
    ("services", Effect::Live),
    ("timeouts", Effect::Live),
    ("expire_nodest_conn", Effect::Live),
    ("expire_quiescent_template", Effect::Live),
    ("conn_table", Effect::Restart),
    ("metrics", Effect::Restart),
    ("admin", Effect::Restart),
];

/// The effect of changing `key` (unknown keys need a restart).
pub fn effect(key: &str) -> Effect {
    KEYS.iter().find(|(k, _)| *k == key).map_or(Effect::Restart, |(_, e)| *e)
}

/// The keys a reload applies live, for messages.
pub fn live() -> Vec<&'static str> {
    KEYS.iter().filter(|(_, e)| *e == Effect::Live).map(|(k, _)| *k).collect()
}

/// The top-level keys whose values differ between `running` and `new` and need a restart, in
/// [`KEYS`] order (keys missing from it last).
pub fn needing_restart(running: &Config, new: &Config) -> Vec<String> {
    let (Some(a), Some(b)) = (top_level(running), top_level(new)) else {
        // The schema always serializes; should it not, only an unchanged config passes.
        return if running == new { Vec::new() } else { vec!["(config)".into()] };
    };
    let mut keys: Vec<String> = KEYS.iter().map(|(k, _)| k.to_string()).collect();
    for k in a.keys().chain(b.keys()).filter_map(Value::as_str) {
        if !keys.iter().any(|x| x == k) {
            keys.push(k.to_string());
        }
    }
    keys.retain(|k| effect(k) == Effect::Restart && a.get(k.as_str()) != b.get(k.as_str()));
    keys
}

fn top_level(c: &Config) -> Option<Mapping> {
    match serde_yaml_ng::to_value(c).ok()? {
        Value::Mapping(m) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::tests::{cfg, server, WEB};

    /// `c` with a default route.
    fn routed(c: &Config) -> Config {
        let text = c
            .to_yaml()
            .replace("\nservices:", "\nroutes:\n- { prefix: 0.0.0.0/0, via: 198.18.0.1 }\nservices:");
        crate::config::parse(&text, "t.yaml").unwrap()
    }

    #[test]
    fn every_key_of_the_schema_is_listed() {
        let c = routed(&cfg(&[WEB, &server(11, 1)]));
        assert!(!c.routes.is_empty());
        let m = top_level(&c).unwrap();
        let serialized: Vec<&str> = m.keys().filter_map(Value::as_str).collect();
        let listed: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
        assert_eq!(serialized, listed);
    }

    #[test]
    fn names_exactly_the_keys_that_differ() {
        let one = cfg(&[WEB, &server(11, 1)]);
        let mut two = cfg(&[WEB, &server(11, 5), &server(12, 1)]);
        two.expire_nodest_conn = true;
        two.timeouts.tcp = std::time::Duration::from_secs(60);
        assert_eq!(needing_restart(&one, &two), Vec::<String>::new(), "all of it applies live");
        let mut two = routed(&two);
        two.workers.lcores.push(2);
        assert_eq!(needing_restart(&one, &two), ["workers", "routes"]);
        assert_eq!(effect("no_such_key"), Effect::Restart);
    }

    /// docs/CONFIG.md's "Reload: what applies live" has a table of top-level keys; it must say
    /// what this list says, key for key.
    #[test]
    fn config_md_names_the_same_keys() {
        let doc = include_str!("../../../docs/CONFIG.md");
        let section = doc.split("## Reload: what applies live").nth(1).expect("the reload section");
        let section = section.split("\n## ").next().unwrap_or(section);
        let table = section
            .split("\n\n")
            .find(|block| block.trim_start().starts_with("| top-level key"))
            .expect("a table headed `| top-level key | on a reload |`");
        let mut documented: Vec<(String, Effect)> = Vec::new();
        for row in table.lines().skip(2) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let (Some(keys), Some(what)) = (cells.get(1), cells.get(2)) else { continue };
            let effect = if what.starts_with("live") {
                Effect::Live
            } else if what.starts_with("restart") {
                Effect::Restart
            } else {
                panic!("row {row:?}: the effect starts with `live` or `restart`")
            };
            for key in keys.split('`').skip(1).step_by(2) {
                documented.push((key.to_string(), effect));
            }
        }
        documented.sort();
        let mut listed: Vec<(String, Effect)> = KEYS.iter().map(|(k, e)| (k.to_string(), *e)).collect();
        listed.sort();
        assert_eq!(documented, listed);
    }
}
