//! The metrics thread: `/metrics`, `/healthz` and `/readyz` on `metrics.listen`.
//!
//! It is a plain std thread, never a worker lcore and never the control thread: a slow or stuck
//! scraper can delay only other scrapes (each connection has a read and write timeout). The listener
//! is non-blocking and polled, so that `stop` ends the thread within one poll interval without a
//! wake-up connection. `/metrics` speaks OpenMetrics to clients that ask for it (Prometheus does, in
//! `Accept`) and the Prometheus text format 0.0.4 to the rest (curl, promtool).

use super::collect::VsdCollector;
use super::http::{self, Request, Response};
use super::sources::{ControlView, Sources};
use crate::state::DestState;
use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::registry::Registry;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use vsd_dataplane::service::Snapshot;

/// How often the listener is polled for connections and for the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// Per-connection read and write timeout.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// The OpenMetrics 1.0 media type.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The running metrics thread. Stops when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    ready: Arc<AtomicBool>,
    view: ControlView,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Bind `listen` and serve `src` from a new thread. `/readyz` answers 503 until
    /// [`MetricsServer::set_ready`].
    pub fn start(listen: SocketAddr, src: Sources) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let ready = Arc::new(AtomicBool::new(false));
        let view = src.view.clone();
        let mut registry = Registry::default();
        registry.register_collector(Box::new(VsdCollector::new(src)));
        let thread = std::thread::Builder::new().name("vsd-metrics".into()).spawn({
            let (stop, ready) = (stop.clone(), ready.clone());
            move || serve(&listener, &registry, &stop, &ready)
        })?;
        Ok(MetricsServer { addr, stop, ready, view, thread: Some(thread) })
    }

    /// The bound address (the port chosen by the OS when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Ready: ports started and workers launched. Cleared again when vsd begins to stop.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Relaxed);
    }

    /// The control thread's running snapshot and real-server states, for the next scrape; `up(d)`
    /// is the health verdict of dest `d`.
    pub fn publish(&self, snap: &Arc<Snapshot>, dests: &[DestState], up: impl Fn(usize) -> bool) {
        self.view.publish(snap, dests, up);
    }

    /// Stop serving and wait for the thread; after this no scrape reads a port.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("metrics thread panicked");
            }
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn serve(listener: &TcpListener, registry: &Registry, stop: &AtomicBool, ready: &AtomicBool) {
    while !stop.load(Relaxed) {
        match listener.accept() {
            Ok((conn, _)) => {
                if let Err(e) = answer(conn, registry, ready.load(Relaxed)) {
                    // A scraper that went away or timed out: nothing to do but note it.
                    if !matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) {
                        tracing::warn!("metrics: {e}");
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) => {
                tracing::warn!("metrics: accept: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
}

fn answer(mut conn: TcpStream, registry: &Registry, ready: bool) -> io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    let Some(head) = http::read_head(&mut conn)? else {
        return Response::text(400, "bad request\n").write_to(&mut conn, false);
    };
    match http::parse_head(&head) {
        Ok(req) => respond(&req, registry, ready).write_to(&mut conn, req.method == "HEAD"),
        Err(why) => Response::text(400, &format!("{why}\n")).write_to(&mut conn, false),
    }
}

/// Route one request.
pub fn respond(req: &Request, registry: &Registry, ready: bool) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::text(405, "only GET and HEAD\n");
    }
    match req.path.as_str() {
        "/metrics" => render(registry, req.accept.as_deref().unwrap_or("")),
        "/healthz" => Response::text(200, "ok\n"),
        "/readyz" if ready => Response::text(200, "ready\n"),
        "/readyz" => Response::text(503, "not ready\n"),
        _ => Response::text(404, "not found; try /metrics, /healthz or /readyz\n"),
    }
}

/// The registry in OpenMetrics when `accept` names it, else in the Prometheus text format.
pub fn render(registry: &Registry, accept: &str) -> Response {
    let mut body = String::with_capacity(16 * 1024);
    let (content_type, done) = if accept.contains("application/openmetrics-text") {
        (OPENMETRICS, text::encode(&mut body, registry))
    } else {
        (prometheus_text::CONTENT_TYPE, prometheus_text::encode(&mut body, registry))
    };
    match done {
        Ok(()) => Response { status: 200, content_type, body },
        Err(_) => Response::text(500, "encoding the metrics failed\n"),
    }
}
