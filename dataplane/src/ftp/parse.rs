//! Parsing of the FTP control lines the helper acts on: `PORT` and `EPRT` (`|1|` IPv4 and `|2|`
//! IPv6, RFC 2428) from the client, the `227` and `229` replies from the server.
//!
//! The parsers take one complete line (from [`lines`]) and either understand all of it or return
//! `None`; there is no partial result and no error detail, because the only thing the packet path
//! does with a line it does not understand is to let it pass untouched. They never allocate and
//! never index out of bounds on any input: every byte is read through iterators or checked slices,
//! and numbers are bounded before they are accumulated.
//!
//! A line must end inside the segment. A line split across two segments is therefore ignored, as
//! LVS ignores it (`ip_vs_ftp_get_addrport` needs the whole line), rather than parsed from its first
//! half, where `PORT 198,18,0,10,156,1` could be the beginning of `…,156,12`.

use core::ops::Range;

/// An IPv4 endpoint announced on the control connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Endpoint {
    pub addr: [u8; 4],
    pub port: u16,
}

/// An endpoint the client announces for an active data connection, in the family its command
/// names: `PORT` and `EPRT |1|` announce IPv4, `EPRT |2|` IPv6 (RFC 2428 §2).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Active {
    V4(Endpoint),
    V6 { addr: [u8; 16], port: u16 },
}

/// The longest IPv6 address text `EPRT |2|` may carry: `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`.
const MAX_V6_TEXT: usize = 45;

/// A server reply that announces a passive data port.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum PassiveReply {
    /// `227 … (h1,h2,h3,h4,p1,p2)`: `addr_text` is where `h1,h2,h3,h4` stands in the line, the part
    /// a NAT rewrite replaces.
    Pasv { endpoint: Endpoint, addr_text: Range<usize> },
    /// `229 … (|||port|)`: the data connection goes to the address the control connection reached.
    Epsv { port: u16 },
}

/// The longest text [`format_pasv_addr`] writes: `255,255,255,255`.
pub const MAX_ADDR_TEXT: usize = 15;

/// Complete lines of a segment's payload, each with its offset in the payload, without its line
/// ending (LF, or the CRLF that RFC 959 §4.2 prescribes). A trailing piece without LF is not a line.
pub fn lines(payload: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut at = 0;
    core::iter::from_fn(move || {
        let rest = payload.get(at..)?;
        let lf = rest.iter().position(|&b| b == b'\n')?;
        let start = at;
        at += lf + 1;
        let line = &rest[..lf];
        Some((start, line.strip_suffix(b"\r").unwrap_or(line)))
    })
}

/// `PORT h1,h2,h3,h4,p1,p2` (RFC 959 §4.1.2), `EPRT |1|a.b.c.d|port|` or `EPRT |2|v6addr|port|`
/// (RFC 2428 §2): the address and port the client will accept the active data connection on.
pub fn client_command(line: &[u8]) -> Option<Active> {
    if let Some(args) = command_args(line, b"PORT") {
        let (n, used) = numbers::<6>(args, b',')?;
        trailing_blanks(&args[used..])?;
        return endpoint(n).map(Active::V4);
    }
    if let Some(args) = command_args(line, b"EPRT") {
        return eprt(args);
    }
    None
}

/// A `227` or `229` reply line (the last, or only, line of the reply: the code is followed by a
/// space, RFC 959 §4.2).
pub fn server_reply(line: &[u8]) -> Option<PassiveReply> {
    if let Some(text) = line.strip_prefix(b"227 ") {
        // RFC 1123 §4.1.2.6: the format of the 227 text is not standardised; scan for the first
        // digit after the code.
        let first = text.iter().position(u8::is_ascii_digit)?;
        let (n, used) = numbers::<6>(&text[first..], b',')?;
        // What follows the numbers is free text (")", ")."), but not more of a number.
        if text.get(first + used).is_some_and(|b| b.is_ascii_digit() || *b == b',') {
            return None;
        }
        let (_, addr_len) = numbers::<4>(&text[first..], b',')?;
        let start = 4 + first;
        return Some(PassiveReply::Pasv { endpoint: endpoint(n)?, addr_text: start..start + addr_len });
    }
    if let Some(text) = line.strip_prefix(b"229 ") {
        // RFC 2428 §3: "229 Entering Extended Passive Mode (|||port|)".
        let open = text.iter().position(|&b| b == b'(')?;
        let inner = &text[open + 1..];
        let (&d, rest) = inner.split_first()?;
        if !is_delimiter(d) {
            return None;
        }
        let rest = rest.strip_prefix(&[d, d][..])?;
        let (port, used) = number(rest, 65535)?;
        if port == 0 || rest.get(used..used + 2) != Some(&[d, b')'][..]) {
            return None;
        }
        return Some(PassiveReply::Epsv { port: u16::try_from(port).ok()? });
    }
    None
}

/// Write `a` as `h1,h2,h3,h4` (the address part of a 227 reply) into `out`; returns its length.
pub fn format_pasv_addr(a: [u8; 4], out: &mut [u8; MAX_ADDR_TEXT]) -> usize {
    let mut n = 0;
    for (i, octet) in a.iter().enumerate() {
        if i > 0 {
            out[n] = b',';
            n += 1;
        }
        let digits = [octet / 100, octet / 10 % 10, octet % 10];
        let skip = if *octet >= 100 {
            0
        } else if *octet >= 10 {
            1
        } else {
            2
        };
        for d in &digits[skip..] {
            out[n] = b'0' + d;
            n += 1;
        }
    }
    n
}

/// The arguments of `verb` (case-insensitive, RFC 959 §5.3) after one or more spaces.
fn command_args<'a>(line: &'a [u8], verb: &[u8; 4]) -> Option<&'a [u8]> {
    let head = line.get(..4)?;
    if !head.eq_ignore_ascii_case(verb) {
        return None;
    }
    let rest = &line[4..];
    let blanks = rest.iter().take_while(|&&b| b == b' ').count();
    if blanks == 0 {
        return None;
    }
    Some(&rest[blanks..])
}

/// RFC 2428 §2: `<d><net-prt><d><net-addr><d><tcp-port><d>`, net-prt 1 (IPv4) or 2 (IPv6).
fn eprt(args: &[u8]) -> Option<Active> {
    let (&d, rest) = args.split_first()?;
    if !is_delimiter(d) {
        return None;
    }
    let (&family, rest) = rest.split_first()?;
    let rest = rest.strip_prefix(&[d][..])?;
    let (ep, rest) = match family {
        b'1' => {
            let (n, used) = numbers::<4>(rest, b'.')?;
            (Active::V4(Endpoint { addr: n, port: 0 }), &rest[used..])
        }
        b'2' => {
            // The address text ends at the next delimiter; ':' (and '.' in an embedded IPv4
            // part) are its own characters, so they cannot delimit it.
            if matches!(d, b':' | b'a'..=b'f' | b'A'..=b'F') {
                return None;
            }
            let len = rest.iter().take(MAX_V6_TEXT + 1).position(|&b| b == d)?;
            let text = core::str::from_utf8(&rest[..len]).ok()?;
            let addr: core::net::Ipv6Addr = text.parse().ok()?;
            (Active::V6 { addr: addr.octets(), port: 0 }, &rest[len..])
        }
        _ => return None,
    };
    let rest = rest.strip_prefix(&[d][..])?;
    let (port, used) = number(rest, 65535)?;
    let rest = rest[used..].strip_prefix(&[d][..])?;
    trailing_blanks(rest)?;
    let port = u16::try_from(port).ok().filter(|&p| p != 0)?;
    Some(match ep {
        Active::V4(e) => Active::V4(Endpoint { addr: e.addr, port }),
        Active::V6 { addr, .. } => Active::V6 { addr, port },
    })
}

/// RFC 2428 §2: the delimiter is a printable ASCII character (33–126), "|" recommended. Digits
/// and "." would make the fields ambiguous, so they are refused.
fn is_delimiter(d: u8) -> bool {
    (33..=126).contains(&d) && !d.is_ascii_digit() && d != b'.'
}

/// `N` decimal numbers of at most three digits and at most 255, separated by `sep`, at the start of
/// `s`; and how many bytes they took.
fn numbers<const N: usize>(s: &[u8], sep: u8) -> Option<([u8; N], usize)> {
    let mut out = [0u8; N];
    let mut at = 0;
    for (i, slot) in out.iter_mut().enumerate() {
        if i > 0 {
            if s.get(at) != Some(&sep) {
                return None;
            }
            at += 1;
        }
        let (v, used) = number(s.get(at..)?, 255)?;
        *slot = u8::try_from(v).ok()?;
        at += used;
    }
    Some((out, at))
}

/// A decimal number at the start of `s`, at most `max`, without a sign; and its digit count. More
/// digits than `max` has are refused, so leading zeros cannot make a line arbitrarily long.
fn number(s: &[u8], max: u32) -> Option<(u32, usize)> {
    let max_digits = if max >= 10_000 { 5 } else { 3 };
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > max_digits {
        return None;
    }
    let v = s[..digits].iter().fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
    (v <= max).then_some((v, digits))
}

fn trailing_blanks(s: &[u8]) -> Option<()> {
    s.iter().all(|&b| b == b' ').then_some(())
}

fn endpoint(n: [u8; 6]) -> Option<Endpoint> {
    let port = u16::from_be_bytes([n[4], n[5]]);
    (port != 0).then_some(Endpoint { addr: [n[0], n[1], n[2], n[3]], port })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ep(addr: [u8; 4], port: u16) -> Option<Active> {
        Some(Active::V4(Endpoint { addr, port }))
    }

    fn ep6(addr: &str, port: u16) -> Option<Active> {
        Some(Active::V6 { addr: addr.parse::<core::net::Ipv6Addr>().unwrap().octets(), port })
    }

    #[test]
    fn port_and_eprt() {
        assert_eq!(client_command(b"PORT 198,18,0,10,156,64"), ep([198, 18, 0, 10], 40000));
        assert_eq!(client_command(b"port  198,18,0,10,0,21 "), ep([198, 18, 0, 10], 21));
        assert_eq!(client_command(b"EPRT |1|198.18.0.10|40000|"), ep([198, 18, 0, 10], 40000));
        assert_eq!(client_command(b"eprt !1!198.18.0.10!5282!"), ep([198, 18, 0, 10], 5282));
        for bad in [
            &b"PORT"[..],
            b"PORT ",
            b"PORT198,18,0,10,156,64",
            b"PORT 198,18,0,10,156",
            b"PORT 198,18,0,10,156,64,1",
            b"PORT 198,18,0,256,156,64",
            b"PORT 198,18,0,10,156,0064",
            b"PORT 198,18,0,10,0,0",
            b"PORT 198,18,0,10,156,64x",
            b"PORT -198,18,0,10,156,64",
            b"EPRT |1|198.18.0.10|40000",
            b"EPRT |1|198.18.0.10|0|",
            b"EPRT |1|198.18.0.10|65536|",
            b"EPRT 111198.18.0.1014000001",
            b"EPRT  |1|198.18.0|40000|",
            b"EPRT \x7f1\x7f198.18.0.10\x7f40000\x7f",
            b"RETR PORT 198,18,0,10,156,64",
            b"PASV",
        ] {
            assert_eq!(client_command(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn eprt_over_ipv6() {
        assert_eq!(client_command(b"EPRT |2|2001:db8::10|40000|"), ep6("2001:db8::10", 40000));
        assert_eq!(client_command(b"eprt  !2!2001:DB8:0:0:0:0:0:10!1! "), ep6("2001:db8::10", 1));
        assert_eq!(client_command(b"EPRT |2|::ffff:198.18.0.10|5282|"), ep6("::ffff:198.18.0.10", 5282));
        assert_eq!(
            client_command(b"EPRT |2|ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255|65535|"),
            ep6("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 65535)
        );
        for bad in [
            &b"EPRT |2|2001:db8::10|40000"[..],
            b"EPRT |2|2001:db8::10|0|",
            b"EPRT |2|2001:db8::10|65536|",
            b"EPRT |2|2001:db8::10||",
            b"EPRT |2||40000|",
            b"EPRT |2|2001:db8::10%eth0|40000|",
            b"EPRT |2|2001:db8:::10|40000|",
            b"EPRT |2|198.18.0.10|40000|",
            b"EPRT |1|2001:db8::10|40000|",
            b"EPRT |3|2001:db8::10|40000|",
            b"EPRT |21|2001:db8::10|40000|",
            b"EPRT :2:2001:db8::10:40000:",
            b"EPRT a2a2001:db8::10a40000a",
            b"EPRT |2|0000:0000:0000:0000:0000:0000:0000:0000:0|40000|",
            b"EPRT |2|\xff\xfe::1|40000|",
            b"EPRT |2|2001:db8::10|40000|x",
        ] {
            assert_eq!(client_command(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn pasv_and_epsv_replies() {
        let line = b"227 Entering Passive Mode (198,19,0,11,117,48).";
        let Some(PassiveReply::Pasv { endpoint, addr_text }) = server_reply(line) else { panic!() };
        assert_eq!(endpoint, Endpoint { addr: [198, 19, 0, 11], port: 30000 });
        assert_eq!(&line[addr_text], b"198,19,0,11");
        // RFC 1123: no parenthesis at all is legal too.
        let line = b"227 =1,2,3,4,5,6";
        let Some(PassiveReply::Pasv { endpoint, addr_text }) = server_reply(line) else { panic!() };
        assert_eq!((endpoint.addr, endpoint.port, &line[addr_text]), ([1, 2, 3, 4], 1286, &b"1,2,3,4"[..]));
        assert_eq!(
            server_reply(b"229 Entering Extended Passive Mode (|||30001|)"),
            Some(PassiveReply::Epsv { port: 30001 })
        );
        assert_eq!(server_reply(b"229 ok (###65535#)"), Some(PassiveReply::Epsv { port: 65535 }));
        for bad in [
            &b"227-Entering Passive Mode (198,19,0,11,117,48)"[..],
            b"227 Entering Passive Mode",
            b"227 Entering Passive Mode (198,19,0,11,117)",
            b"227 Entering Passive Mode (198,19,0,11,117,48,5)",
            b"227 Entering Passive Mode (198,19,0,11,117,480)",
            b"227 (198,19,0,11,0,0)",
            b"228 Entering Passive Mode (198,19,0,11,117,48)",
            b"229 Entering Extended Passive Mode (|||0|)",
            b"229 Entering Extended Passive Mode (|||65536|)",
            b"229 Entering Extended Passive Mode (||30001|)",
            b"229 Entering Extended Passive Mode (|||30001)",
            b"229 Entering Extended Passive Mode (|1|198.19.0.11|30001|)",
            b"229 Entering Extended Passive Mode (",
            b" 227 Entering Passive Mode (198,19,0,11,117,48)",
        ] {
            assert_eq!(server_reply(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn lines_need_their_end() {
        let got: Vec<_> = lines(b"USER a\r\nPASS b\nPORT 1,2").collect();
        assert_eq!(got, vec![(0, &b"USER a"[..]), (8, &b"PASS b"[..])]);
        assert_eq!(lines(b"no line end").count(), 0);
        assert_eq!(lines(b"").count(), 0);
        assert_eq!(lines(b"\r\n\n").collect::<Vec<_>>(), vec![(0, &b""[..]), (2, &b""[..])]);
    }

    #[test]
    fn formats_addresses_as_227_does() {
        let mut out = [0u8; MAX_ADDR_TEXT];
        for (a, want) in [
            ([198, 18, 0, 100], &b"198,18,0,100"[..]),
            ([0, 0, 0, 0], b"0,0,0,0"),
            ([255, 255, 255, 255], b"255,255,255,255"),
            ([10, 9, 100, 99], b"10,9,100,99"),
        ] {
            let n = format_pasv_addr(a, &mut out);
            assert_eq!(&out[..n], want);
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            for (_, line) in lines(&data) {
                let _ = client_command(line);
                let _ = server_reply(line);
            }
            let _ = client_command(&data);
            let _ = server_reply(&data);
        }

        #[test]
        fn near_miss_lines_never_panic(
            head in prop::sample::select(vec!["PORT ", "EPRT ", "227 ", "229 ", "port ", "EPRT |1|", "EPRT |2|"]),
            body in "[0-9a-f:,.|()!x ]{0,64}",
        ) {
            let line = format!("{head}{body}");
            let _ = client_command(line.as_bytes());
            let _ = server_reply(line.as_bytes());
        }

        #[test]
        fn what_is_written_is_read_back(addr in any::<[u8; 4]>(), port in 1u16..) {
            let [a, b, c, d] = addr;
            let (p1, p2) = (port >> 8, port & 0xff);
            let want = Some(Endpoint { addr, port });
            let active = want.map(Active::V4);
            prop_assert_eq!(client_command(format!("PORT {a},{b},{c},{d},{p1},{p2}").as_bytes()), active);
            prop_assert_eq!(client_command(format!("EPRT |1|{a}.{b}.{c}.{d}|{port}|").as_bytes()), active);
            let line = format!("227 Entering Passive Mode ({a},{b},{c},{d},{p1},{p2})");
            let Some(PassiveReply::Pasv { endpoint, addr_text }) = server_reply(line.as_bytes()) else {
                return Err(TestCaseError::fail("227 not parsed"));
            };
            prop_assert_eq!(Some(endpoint), want);
            let mut text = [0u8; MAX_ADDR_TEXT];
            let n = format_pasv_addr(addr, &mut text);
            prop_assert_eq!(&line.as_bytes()[addr_text], &text[..n]);
            let epsv = format!("229 Entering Extended Passive Mode (|||{port}|)");
            prop_assert_eq!(server_reply(epsv.as_bytes()), Some(PassiveReply::Epsv { port }));
        }

        #[test]
        fn eprt6_written_is_read_back(addr in any::<[u8; 16]>(), port in 1u16..) {
            let text = core::net::Ipv6Addr::from(addr);
            let got = client_command(format!("EPRT |2|{text}|{port}|").as_bytes());
            prop_assert_eq!(got, Some(Active::V6 { addr, port }));
        }

        /// A PORT command cut anywhere and sent as two segments: neither half is a complete line
        /// that means something else.
        #[test]
        fn split_commands_are_never_misread(addr in any::<[u8; 4]>(), port in 1u16.., cut in 0usize..40) {
            let [a, b, c, d] = addr;
            let cmd = format!("PORT {a},{b},{c},{d},{},{}\r\n", port >> 8, port & 0xff);
            let cut = cut.min(cmd.len() - 1);
            let (first, second) = cmd.as_bytes().split_at(cut);
            prop_assert_eq!(lines(first).count(), 0);
            let whole = Some(Active::V4(Endpoint { addr, port }));
            for (_, line) in lines(second) {
                let got = client_command(line);
                prop_assert!(got.is_none() || (got == whole && cut == 0));
            }
        }
    }
}
