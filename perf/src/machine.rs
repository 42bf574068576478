//! The machine a run happened on: printed beside every absolute figure, and the TSC rate that turns
//! packets per second into cycles per packet.
//!
//! The TSC rate is read from /proc/cpuinfo rather than measured: reading the TSC needs `rdtsc`,
//! which is `unsafe` in Rust and only the ffi crate may do that. With `constant_tsc` (an invariant
//! TSC), the kernel's "cpu MHz" is the TSC's rate on the VMs this runs on (testpmd's own
//! `rte_get_tsc_hz()` reports the same 2600 MHz here); without it the figure is marked as a guess.

/// What a run records about its machine.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub model: String,
    pub tsc_hz: f64,
    /// Where `tsc_hz` came from.
    pub tsc_source: String,
    /// /proc/loadavg at the start: how busy the shared machine was.
    pub load_avg: String,
}

/// The CPU model, the first "cpu MHz", whether the TSC is invariant, and the CPU count.
fn parse_cpuinfo(text: &str) -> (String, Option<f64>, bool, usize) {
    let value = |line: &str| line.split_once(':').map(|(_, v)| v.trim().to_string());
    let mut model = String::from("unknown");
    let mut mhz = None;
    let mut constant_tsc = false;
    let mut cpus = 0;
    for line in text.lines() {
        if line.starts_with("processor") {
            cpus += 1;
        } else if line.starts_with("model name") && cpus == 1 {
            model = value(line).unwrap_or(model);
        } else if line.starts_with("cpu MHz") && mhz.is_none() {
            mhz = value(line).and_then(|v| v.parse::<f64>().ok());
        } else if line.starts_with("flags") && cpus == 1 {
            constant_tsc = line.split_whitespace().any(|f| f == "constant_tsc");
        }
    }
    (model, mhz, constant_tsc, cpus)
}

impl Machine {
    /// This machine; `tsc_mhz` overrides the TSC rate.
    pub fn detect(tsc_mhz: Option<f64>) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let (model, mhz, constant_tsc, cpus) = parse_cpuinfo(&cpuinfo);
        let (tsc_hz, tsc_source) = match (tsc_mhz, mhz) {
            (Some(m), _) => (m * 1e6, "--tsc-mhz".to_string()),
            (None, Some(m)) if constant_tsc => (m * 1e6, "/proc/cpuinfo cpu MHz (constant_tsc)".to_string()),
            (None, Some(m)) => (m * 1e6, "/proc/cpuinfo cpu MHz (no constant_tsc: a guess)".to_string()),
            (None, None) => (0.0, "unknown: give --tsc-mhz".to_string()),
        };
        let load_avg = std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        Machine { cpus: cpus.max(1), model, tsc_hz, tsc_source, load_avg }
    }

    /// Cycles per packet of `cores` busy-polling cores (fractions for shared ones) moving `pps`
    /// packets per second.
    pub fn cycles_per_packet(&self, cores: f64, pps: f64) -> Option<f64> {
        (pps > 0.0 && self.tsc_hz > 0.0).then(|| self.tsc_hz * cores / pps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &str = "processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
cpu MHz\t\t: 2600.000
flags\t\t: fpu vme tsc constant_tsc nonstop_tsc tsc_known_freq
processor\t: 1
model name\t: Intel(R) Xeon(R) Processor
cpu MHz\t\t: 2599.000
flags\t\t: fpu vme tsc
";

    #[test]
    fn reads_model_rate_and_invariance_of_the_first_cpu() {
        let (model, mhz, constant, cpus) = parse_cpuinfo(CPUINFO);
        assert_eq!(model, "Intel(R) Xeon(R) Processor");
        assert_eq!(mhz, Some(2600.0));
        assert!(constant);
        assert_eq!(cpus, 2);
        assert_eq!(parse_cpuinfo(""), ("unknown".to_string(), None, false, 0));
    }

    #[test]
    fn cycles_per_packet_scale_with_cores_and_refuse_zero() {
        let m = Machine {
            cpus: 2,
            model: String::new(),
            tsc_hz: 2.6e9,
            tsc_source: String::new(),
            load_avg: String::new(),
        };
        assert_eq!(m.cycles_per_packet(1.0, 10e6), Some(260.0));
        assert_eq!(m.cycles_per_packet(2.0, 10e6), Some(520.0));
        assert_eq!(m.cycles_per_packet(0.5, 10e6), Some(130.0));
        assert_eq!(m.cycles_per_packet(1.0, 0.0), None);
        assert_eq!(Machine { tsc_hz: 0.0, ..m }.cycles_per_packet(1.0, 1.0), None);
    }
}
