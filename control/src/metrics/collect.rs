//! The scrape: a `prometheus-client` [`Collector`] that reads [`Sources`] when asked.
//!
//! vsd's counters live in the workers' own structs, so there is nothing to register ahead of time
//! and keep in step: a collector renders the current values at scrape time, with constant metric
//! values. Every sample goes through [`Fam`], which pairs the label values with the family's label
//! names from `families`, so a sample cannot carry labels its family does not declare. Every series
//! is rendered, zeros included, so that rates start from the first scrape.

use super::families::{self as f, Family, Kind};
use super::sources::{DestView, Sources};
use crate::listing::endpoint;
use crate::state::DestTotals;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::ConstCounter;
use std::fmt;
use vsd_dataplane::conn::Fwd;
use vsd_dataplane::service::Snapshot;
use vsd_dataplane::stats::{Counter, DropReason};
use vsd_dataplane::wire::ParseError;

/// vsd's version, for `vsd_build_info`.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The forwarding method as the config spells it (`forwarding:`), not ipvsadm's Masq/Route.
fn forwarding(fwd: Fwd) -> &'static str {
    match fwd {
        Fwd::Nat => "nat",
        Fwd::Dr => "dr",
        Fwd::Tunnel => "tunnel",
        Fwd::FullNat => "fullnat",
    }
}

/// One family being rendered.
struct Fam<'a> {
    family: &'static Family,
    enc: MetricEncoder<'a>,
}

impl<'a> Fam<'a> {
    fn open(d: &'a mut DescriptorEncoder<'_>, family: &'static Family) -> Result<Fam<'a>, fmt::Error> {
        let enc =
            d.encode_descriptor(family.name, family.help, family.unit.as_ref(), family.kind.metric_type())?;
        Ok(Fam { family, enc })
    }

    /// The label set: the family's names with these values, in order.
    fn labels<'v>(&self, values: &[&'v str]) -> Vec<(&'static str, &'v str)> {
        assert_eq!(values.len(), self.family.labels.len(), "{}: label values", self.family.name);
        self.family.labels.iter().copied().zip(values.iter().copied()).collect()
    }

    fn counter(&mut self, values: &[&str], v: u64) -> fmt::Result {
        debug_assert_eq!(self.family.kind, Kind::Counter);
        let set = self.labels(values);
        ConstCounter::new(v).encode(self.enc.encode_family(&set)?)
    }

    fn gauge(&mut self, values: &[&str], v: i64) -> fmt::Result {
        debug_assert_eq!(self.family.kind, Kind::Gauge);
        let set = self.labels(values);
        self.enc.encode_family(&set)?.encode_gauge(&v)
    }

    fn info(&mut self, values: &[&str]) -> fmt::Result {
        debug_assert_eq!(self.family.kind, Kind::Info);
        let set = self.labels(values);
        self.enc.encode_info(&set)
    }
}

/// Renders [`Sources`] on every scrape.
pub struct VsdCollector {
    src: Sources,
}

impl VsdCollector {
    pub fn new(src: Sources) -> VsdCollector {
        VsdCollector { src }
    }

    fn services(&self, d: &mut DescriptorEncoder, snap: &Snapshot) -> fmt::Result {
        let mut m = Fam::open(d, &f::SERVICE)?;
        for (_, s) in snap.live_services() {
            let proto = s.proto.name().to_ascii_lowercase();
            for vip in &s.vips {
                for port in &s.ports {
                    let virt = endpoint(vip, *port);
                    m.info(&[&s.name, &proto, &virt, s.sched.name(), forwarding(s.fwd)])?;
                }
            }
        }
        Ok(())
    }

    fn real_servers(&self, d: &mut DescriptorEncoder, snap: &Snapshot, views: &[DestView]) -> fmt::Result {
        // (service, server) label values and summed counters of every real server, read once.
        let per_core = self.src.dests.get();
        let rows: Vec<_> = snap
            .dests
            .iter()
            .enumerate()
            .filter(|(_, x)| !snap.services[x.service as usize].retired)
            .map(|(i, x)| {
                let svc = snap.services[x.service as usize].name.as_str();
                let totals = DestTotals::sum(per_core.iter().filter_map(|core| core.get(i)));
                (svc, endpoint(&x.addr, x.port), totals, views.get(i).copied())
            })
            .collect();
        type Read = fn(&DestTotals) -> u64;
        let counters: [(&'static Family, Read); 5] = [
            (&f::RS_CONNECTIONS, |t| t.conns),
            (&f::RS_IN_PACKETS, |t| t.in_packets),
            (&f::RS_OUT_PACKETS, |t| t.out_packets),
            (&f::RS_IN_BYTES, |t| t.in_bytes),
            (&f::RS_OUT_BYTES, |t| t.out_bytes),
        ];
        for (family, read) in counters {
            let mut m = Fam::open(d, family)?;
            for (svc, rs, t, _) in &rows {
                m.counter(&[svc, rs], read(t))?;
            }
        }
        let gauges: [(&'static Family, Read); 3] = [
            (&f::RS_ACTIVE, |t| t.active),
            (&f::RS_INACTIVE, |t| t.inactive),
            (&f::RS_PERSISTENT, |t| t.persistent),
        ];
        for (family, read) in gauges {
            let mut m = Fam::open(d, family)?;
            for (svc, rs, t, _) in &rows {
                // Summed with wrapping adds: show a transient underflow as negative, not as 2^64.
                #[allow(
                    clippy::cast_possible_wrap,
                    reason = "on purpose: a wrapped-around sum reads as negative"
                )]
                let v = read(t) as i64;
                m.gauge(&[svc, rs], v)?;
            }
        }
        let mut m = Fam::open(d, &f::RS_WEIGHT)?;
        for (svc, rs, _, st) in &rows {
            m.gauge(&[svc, rs], st.map_or(0, |v| i64::from(v.state.weight)))?;
        }
        let mut m = Fam::open(d, &f::RS_UP)?;
        for (svc, rs, _, st) in &rows {
            m.gauge(&[svc, rs], i64::from(st.is_some_and(|v| v.up)))?;
        }
        Ok(())
    }

    fn workers(&self, d: &mut DescriptorEncoder, snap: &Snapshot) -> fmt::Result {
        let ids: Vec<String> = (0..self.src.workers.len()).map(|i| i.to_string()).collect();
        type Read = fn(&vsd_dataplane::stats::WorkerStats) -> &Counter;
        let counters: [(&'static Family, Read); 19] = [
            (&f::W_RX_PACKETS, |w| &w.rx_packets),
            (&f::W_RX_BYTES, |w| &w.rx_bytes),
            (&f::W_TX_PACKETS, |w| &w.tx_packets),
            (&f::W_TX_BYTES, |w| &w.tx_bytes),
            (&f::W_REDIRECTED_OUT, |w| &w.redirected_out),
            (&f::W_REDIRECTED_IN, |w| &w.redirected_in),
            (&f::W_CONNS_CREATED, |w| &w.conns_created),
            (&f::W_CONNS_EXPIRED, |w| &w.conns_expired),
            (&f::W_TEMPLATES_CREATED, |w| &w.templates_created),
            (&f::W_TEMPLATES_EXPIRED, |w| &w.templates_expired),
            (&f::W_ARP_REPLIES, |w| &w.arp_replies),
            (&f::W_ARP_REQUESTS, |w| &w.arp_requests),
            (&f::W_ECHO_REPLIES, |w| &w.icmp_echo_replies),
            (&f::W_TUNNEL_PACKETS, |w| &w.tunnel_packets),
            (&f::W_ICMP_ERRORS_SENT, |w| &w.icmp_errors_sent),
            (&f::W_ICMP_ERRORS_FORWARDED, |w| &w.icmp_errors_forwarded),
            (&f::W_OUT_KEY_CLASHES, |w| &w.out_key_clashes),
            (&f::W_CYCLES, |w| &w.cycles),
            (&f::W_BUSY_CYCLES, |w| &w.busy_cycles),
        ];
        for (family, read) in counters {
            let mut m = Fam::open(d, family)?;
            for (id, w) in ids.iter().zip(&self.src.workers) {
                m.counter(&[id], read(&w.stats).get())?;
            }
        }
        let mut m = Fam::open(d, &f::W_DROPS)?;
        let parse_names: Vec<String> =
            ParseError::ALL.iter().map(|e| format!("parse_{}", e.name())).collect();
        for (id, w) in ids.iter().zip(&self.src.workers) {
            for r in DropReason::ALL {
                m.counter(&[id, r.name()], w.stats.drops[*r as usize].get())?;
            }
            for (e, name) in ParseError::ALL.iter().zip(&parse_names) {
                m.counter(&[id, name], w.stats.parse_errors[*e as usize].get())?;
            }
        }
        let mut m = Fam::open(d, &f::W_TABLE_ENTRIES)?;
        for (id, w) in ids.iter().zip(&self.src.workers) {
            m.gauge(&[id], i64::try_from(w.stats.conn_entries.get()).unwrap_or(i64::MAX))?;
        }
        let mut m = Fam::open(d, &f::W_TABLE_CAPACITY)?;
        for id in &ids {
            m.gauge(&[id], i64::try_from(snap.conn_capacity).unwrap_or(i64::MAX))?;
        }
        Ok(())
    }

    fn ports(&self, d: &mut DescriptorEncoder) -> fmt::Result {
        // A port whose counters cannot be read is left out of this scrape, not reported as zero.
        let read: Vec<_> = self
            .src
            .ports
            .iter()
            .filter_map(|p| match (p.read)() {
                Ok(st) => Some((p.name.as_str(), st)),
                Err(e) => {
                    tracing::warn!("metrics: port {}: {e}", p.name);
                    None
                }
            })
            .collect();
        type Read = fn(&vsd_ffi::PortStats) -> u64;
        let counters: [(&'static Family, Read); 8] = [
            (&f::P_RX_PACKETS, |s| s.ipackets),
            (&f::P_TX_PACKETS, |s| s.opackets),
            (&f::P_RX_BYTES, |s| s.ibytes),
            (&f::P_TX_BYTES, |s| s.obytes),
            (&f::P_RX_MISSED, |s| s.imissed),
            (&f::P_RX_ERRORS, |s| s.ierrors),
            (&f::P_TX_ERRORS, |s| s.oerrors),
            (&f::P_RX_NOMBUF, |s| s.rx_nombuf),
        ];
        for (family, get) in counters {
            let mut m = Fam::open(d, family)?;
            for (name, st) in &read {
                m.counter(&[name], get(st))?;
            }
        }
        let mut m = Fam::open(d, &f::P_STEERING)?;
        for p in &self.src.ports {
            m.info(&[&p.name, &p.device, &p.steering, &p.steering_detail])?;
        }
        Ok(())
    }
}

impl fmt::Debug for VsdCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VsdCollector")
            .field("workers", &self.src.workers.len())
            .field("ports", &self.src.ports.len())
            .finish()
    }
}

impl Collector for VsdCollector {
    fn encode(&self, mut d: DescriptorEncoder) -> Result<(), fmt::Error> {
        let (snap, views) = self.src.view.get();
        Fam::open(&mut d, &f::BUILD)?.info(&[VERSION])?;
        self.services(&mut d, &snap)?;
        self.real_servers(&mut d, &snap, &views)?;
        self.workers(&mut d, &snap)?;
        self.ports(&mut d)
    }
}
