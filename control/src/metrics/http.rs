//! Just enough HTTP/1.1 for a scrape endpoint: one request per connection, GET and HEAD.
//!
//! Why no crate: one Prometheus scrapes a few times a minute, so a blocking `std::net` loop on one
//! thread, with read and write timeouts, is enough. It adds no dependency and no async runtime to a
//! daemon whose other threads are DPDK lcores. Message syntax follows RFC 9112 (request line, header
//! fields, an empty line); every response closes the connection (RFC 9112 section 9.6), so there is
//! no keep-alive or pipelining to get wrong.

use std::io::{self, Read, Write};

/// Longest request head read; a scrape's is a few hundred bytes.
pub const MAX_HEAD: usize = 8192;

/// A parsed request head: what the router needs.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path, without a query string.
    pub path: String,
    /// The `Accept` header field, if any (field names are case-insensitive, RFC 9110 section 5.1).
    pub accept: Option<String>,
}

/// Parse a request head (request line and header fields, up to the empty line).
pub fn parse_head(head: &str) -> Result<Request, &'static str> {
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().ok_or("empty request")?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed request line");
    };
    if !version.starts_with("HTTP/1.") {
        return Err("unsupported HTTP version");
    }
    if method.is_empty() || !target.starts_with('/') {
        return Err("malformed request line");
    }
    let mut accept = None;
    for field in lines.take_while(|l| !l.is_empty()) {
        let (name, value) = field.split_once(':').ok_or("malformed header field")?;
        if name.eq_ignore_ascii_case("accept") {
            accept = Some(value.trim().to_string());
        }
    }
    let path = target.split('?').next().unwrap_or(target).to_string();
    Ok(Request { method: method.to_string(), path, accept })
}

/// Read a request head: bytes up to the first empty line. `Ok(None)`: the head is longer than
/// [`MAX_HEAD`], not UTF-8, or the peer closed before finishing it.
pub fn read_head(r: &mut impl Read) -> io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        let n = r.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&buf).filter(|&end| end <= MAX_HEAD) {
            buf.truncate(end);
            return Ok(String::from_utf8(buf).ok());
        }
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

/// Where the head ends: after CRLF CRLF, or LF LF (RFC 9112 section 2.2 allows a bare LF).
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    pub fn text(status: u16, body: &str) -> Response {
        Response { status, content_type: "text/plain; charset=utf-8", body: body.to_string() }
    }

    fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "",
        }
    }

    /// Write the response; a HEAD request gets the head only, with the body's length.
    pub fn write_to(&self, w: &mut impl Write, head_only: bool) -> io::Result<()> {
        let allow = if self.status == 405 { "Allow: GET, HEAD\r\n" } else { "" };
        write!(
            w,
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
            self.status,
            self.reason(),
            self.content_type,
            self.body.len()
        )?;
        if !head_only {
            w.write_all(self.body.as_bytes())?;
        }
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_scrape_request() {
        let head = "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9108\r\nACCEPT:  application/openmetrics-text;version=1.0.0\r\n\r\n";
        let r = parse_head(head).unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/metrics");
        assert_eq!(r.accept.as_deref(), Some("application/openmetrics-text;version=1.0.0"));
        let r = parse_head("HEAD /healthz HTTP/1.0\n\n").unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str(), r.accept), ("HEAD", "/healthz", None));
    }

    #[test]
    fn refuses_malformed_heads() {
        for head in [
            "",
            "GET /metrics\r\n\r\n",
            "GET /metrics HTTP/2\r\n\r\n",
            "GET metrics HTTP/1.1\r\n\r\n",
            "GET  /metrics HTTP/1.1\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
        ] {
            assert!(parse_head(head).is_err(), "{head:?} was accepted");
        }
    }

    #[test]
    fn reads_up_to_the_empty_line_and_no_further() {
        let mut input: &[u8] = b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody";
        assert_eq!(read_head(&mut input).unwrap().as_deref(), Some("GET / HTTP/1.1\r\nA: b\r\n\r\n"));
        let mut unfinished: &[u8] = b"GET / HTTP/1.1\r\n";
        assert_eq!(read_head(&mut unfinished).unwrap(), None);
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(read_head(&mut long.as_bytes()).unwrap(), None);
    }

    #[test]
    fn writes_status_length_and_close() {
        let r = Response::text(503, "not ready\n");
        let mut out = Vec::new();
        r.write_to(&mut out, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{text}");
        assert!(text.contains("\r\nContent-Length: 10\r\n"), "{text}");
        assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nnot ready\n"), "{text}");
        let mut head = Vec::new();
        Response::text(405, "x").write_to(&mut head, true).unwrap();
        let head = String::from_utf8(head).unwrap();
        assert!(head.contains("Allow: GET, HEAD\r\n") && head.ends_with("\r\n\r\n"), "{head}");
    }
}
