//! Logs: `tracing` events to stderr, one line each, as `TIME LEVEL vsd: message`.
//!
//! The `vsd:` tag keeps lines greppable next to EAL's own output (`EAL: ...`), which DPDK writes to
//! the same stream. `VSD_LOG` filters with `tracing-subscriber`'s EnvFilter syntax (`info` by
//! default; `vsd_control::health=debug,info` for one module).

use std::fmt;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

struct Line;

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        SystemTime.format_time(&mut w)?;
        write!(w, " {:>5} vsd: ", event.metadata().level())?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// Install the subscriber; call once, first thing in `main`.
pub fn init() {
    let filter = EnvFilter::try_from_env("VSD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter).event_format(Line).init();
}
