//! esbridge/transforms/billing.py, step for step, for the records it can prove identical.
//!
//! Every branch where Python would raise (a dead letter) or where the two languages could
//! disagree (non-ASCII key names, timestamps or durations outside dCache's forms, principals
//! that are not strings) returns `Defer`, and the Python reference handles that message.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::json::{Defer, Obj, R, V};

fn renamed(key: &str) -> Option<&'static str> {
    Some(match key {
        "version" | "VERSION" => "version",
        "session" => "session",
        "initiator" => "initiator",
        "transaction" => "transaction",
        "pnfsid" => "pnfsid",
        "billingPath" => "path",
        "transferPath" => "transfer_path",
        "fileSize" | "filesize" => "file_size",
        "transferSize" => "transfer_size",
        "transferTime" => "transfer_time_ms",
        "queuingTime" => "queuing_time_ms",
        "storageInfo" => "storage_info",
        "isP2p" => "is_p2p",
        "meanReadBandwidth" => "mean_read_bandwidth",
        "meanWriteBandwidth" => "mean_write_bandwidth",
        "subject" => "subject",
        "hsm" => "hsm",
        "locations" => "locations",
        "moverInfo" => "mover",
        _ => return None,
    })
}

fn duration(key: &str) -> Option<&'static str> {
    Some(match key {
        "readIdle" => "read_idle_ms",
        "readActive" => "read_active_ms",
        "writeIdle" => "write_idle_ms",
        "writeActive" => "write_active_ms",
        _ => return None,
    })
}

fn handled(key: &str) -> bool {
    matches!(
        key,
        "date"
            | "msgType"
            | "cellName"
            | "cellType"
            | "cellDomain"
            | "status"
            | "isWrite"
            | "protocolInfo"
            | "protocol"
            | "localEndpoint"
    )
}

fn taken(name: &str) -> bool {
    matches!(
        name,
        "version"
            | "session"
            | "initiator"
            | "transaction"
            | "pnfsid"
            | "path"
            | "transfer_path"
            | "file_size"
            | "transfer_size"
            | "transfer_time_ms"
            | "queuing_time_ms"
            | "storage_info"
            | "is_p2p"
            | "mean_read_bandwidth"
            | "mean_write_bandwidth"
            | "subject"
            | "hsm"
            | "locations"
            | "mover"
            | "read_idle_ms"
            | "read_active_ms"
            | "write_idle_ms"
            | "write_active_ms"
            | "status"
            | "direction"
            | "is_write"
            | "protocol"
            | "local_endpoint"
            | "fqan"
            | "door_remove"
            | "unmapped"
    )
}

/// `snake_case` for ASCII keys; Python's `str.lower` and Rust's differ on some other letters.
pub fn snake_case(key: &str) -> R<String> {
    if !key.is_ascii() {
        return Err(Defer);
    }
    let b = key.as_bytes();
    let lower_digit = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut out = String::with_capacity(b.len() + 4);
    for i in 0..b.len() {
        if i > 0 {
            let hump = lower_digit(b[i - 1]) && b[i].is_ascii_uppercase();
            let acronym = b[i - 1].is_ascii_uppercase()
                && b[i].is_ascii_uppercase()
                && b.get(i + 1).is_some_and(u8::is_ascii_lowercase);
            if hump || acronym {
                out.push('_');
            }
        }
        out.push(if b[i] == b'-' { '_' } else { b[i].to_ascii_lowercase() as char });
    }
    Ok(out)
}

pub fn valid_ip(value: &V<'_>) -> bool {
    match value {
        V::Str(text) => valid_ip_text(text),
        _ => false,
    }
}

pub fn valid_ip_text(text: &str) -> bool {
    !text.contains('%') && (text.parse::<Ipv4Addr>().is_ok() || text.parse::<Ipv6Addr>().is_ok())
}

fn truthy(value: &V<'_>) -> bool {
    match value {
        V::Null | V::Bool(false) => false,
        V::Int(t) => t != "0",
        V::Float(f) => *f != 0.0,
        V::Str(s) => !s.is_empty(),
        V::Arr(a) => !a.is_empty(),
        V::Obj(o) => !o.is_empty(),
        V::Bool(true) => true,
    }
}

fn digits(text: &[u8]) -> R<u32> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(Defer);
    }
    Ok(text.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `parse_iso_timestamp` for `yyyy-MM-ddTHH:mm:ss[.f{1,9}](Z|±HH:mm|±HHmm)`, the forms dCache
/// writes; any other text (which Python may still accept) is deferred.
pub fn iso_timestamp(text: &str) -> R<String> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return Err(Defer);
    }
    if b[16] != b':' {
        return Err(Defer);
    }
    let year = i64::from(digits(&b[0..4])?);
    let month = i64::from(digits(&b[5..7])?);
    let day = i64::from(digits(&b[8..10])?);
    let hour = i64::from(digits(&b[11..13])?);
    let minute = i64::from(digits(&b[14..16])?);
    let second = i64::from(digits(&b[17..19])?);
    let mut pos = 19;
    let mut millis = [b'0'; 3];
    if b[pos] == b'.' {
        let start = pos + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        let n = end - start;
        if n == 0 || n > 9 {
            return Err(Defer);
        }
        for (slot, digit) in millis.iter_mut().zip(&b[start..end]) {
            *slot = *digit;
        }
        pos = end;
    }
    let offset_minutes = match &b[pos..] {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                    (i64::from(digits(&[*h1, *h2])?), i64::from(digits(&[*m1, *m2])?))
                }
                _ => return Err(Defer),
            };
            if h > 23 || m > 59 {
                return Err(Defer);
            }
            if *sign == b'-' {
                -(h * 60 + m)
            } else {
                h * 60 + m
            }
        }
        _ => return Err(Defer),
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(2..=9998).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > month_days[(month - 1) as usize]
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(Defer);
    }
    let local = days_from_civil(year, month, day) * 1440 + hour * 60 + minute;
    let utc = local - offset_minutes;
    let (y, mo, d) = civil_from_days(utc.div_euclid(1440));
    let minutes = utc.rem_euclid(1440);
    let ms = std::str::from_utf8(&millis).map_err(|_| Defer)?;
    Ok(format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{second:02}.{ms}Z",
        minutes / 60,
        minutes % 60
    ))
}

/// `iso_duration_ms` for `PT<seconds>S`; other forms, and results whose rounding to six
/// decimals could be a tie (where round-half-even matters), are deferred.
pub fn duration_ms(value: &V<'_>) -> R<f64> {
    let V::Str(text) = value else { return Err(Defer) };
    let inner = text.strip_prefix("PT").and_then(|t| t.strip_suffix('S')).ok_or(Defer)?;
    let unsigned = inner.strip_prefix('-').unwrap_or(inner);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (unsigned, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
        return Err(Defer);
    }
    if let Some(fast) = short_duration_ms(inner, whole, fraction) {
        return Ok(fast);
    }
    let ms = inner.parse::<f64>().map_err(|_| Defer)? * 1000.0;
    if !ms.is_finite() {
        return Err(Defer);
    }
    if format!("{ms:.7}").ends_with('5') {
        return Err(Defer);
    }
    let rounded: f64 = format!("{ms:.6}").parse().map_err(|_| Defer)?;
    Ok(rounded)
}

/// Durations under 1000 s with at most 9 fraction digits (all dCache writes): the product in
/// floating point is within 1e-9 of the exact decimal milliseconds, which have at most six
/// decimals, so Python's `round(float(s) * 1000.0, 6)` is the double nearest that decimal, read
/// here from the seconds' digits with the point moved three places.
fn short_duration_ms(inner: &str, whole: &str, fraction: Option<&str>) -> Option<f64> {
    let fraction = fraction.unwrap_or("");
    if whole.len() > 3 || fraction.len() > 9 {
        return None;
    }
    let mut text = String::with_capacity(inner.len() + 4);
    if inner.starts_with('-') {
        text.push('-');
    }
    text.push_str(whole);
    let moved = fraction.len().min(3);
    text.push_str(&fraction[..moved]);
    text.extend(std::iter::repeat_n('0', 3 - moved));
    if fraction.len() > 3 {
        text.push('.');
        text.push_str(&fraction[3..]);
    }
    text.parse().ok()
}

pub fn split_endpoint(endpoint: &str) -> Option<(&str, u64)> {
    let (host, port) = if let Some(rest) = endpoint.strip_prefix('[') {
        rest.split_once("]:")?
    } else {
        endpoint.rsplit_once(':')?
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || !valid_ip_text(host) {
        return None;
    }
    let number = port.parse::<u64>().ok()?;
    (number <= 65535).then_some((host, number))
}

#[derive(Default)]
struct Identity<'a> {
    uid: Option<&'a str>,
    gid: Option<&'a str>,
    name: Option<&'a str>,
    fqan: Option<&'a str>,
    origin: Option<&'a str>,
}

fn identity<'a>(subject: &'a [V<'_>]) -> R<Identity<'a>> {
    let mut who = Identity::default();
    for principal in subject {
        let V::Str(principal) = principal else { return Err(Defer) };
        let principal: &str = principal;
        let (kind, rest) = principal.split_once('[').unwrap_or((principal, ""));
        let mut value = rest.strip_suffix(']').unwrap_or(rest);
        match kind {
            "GidPrincipal" | "FQANPrincipal" => match value.strip_suffix(",primary") {
                Some(stripped) => value = stripped,
                None => continue,
            },
            "Origin" if !valid_ip_text(value) => continue,
            _ => {}
        }
        let slot = match kind {
            "UidPrincipal" => &mut who.uid,
            "GidPrincipal" => &mut who.gid,
            "UserNamePrincipal" => &mut who.name,
            "FQANPrincipal" => &mut who.fqan,
            "Origin" => &mut who.origin,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }
    Ok(who)
}

fn owned<'a>(text: &str) -> V<'a> {
    V::Str(Cow::Owned(text.to_owned()))
}

fn version_text(value: &V<'_>) -> R<String> {
    match value {
        V::Int(t) | V::Str(t) => Ok(t.to_string()),
        _ => Err(Defer),
    }
}

fn protocol_fields<'a>(record: &Obj<'a>) -> R<Obj<'a>> {
    let mut protocol = Obj::default();
    if let Some(summary) = record.get("protocol") {
        if !matches!(summary, V::Null) {
            protocol.set("info", summary.clone());
        }
    }
    let Some(info) = record.get("protocolInfo") else { return Ok(protocol) };
    if !truthy(info) {
        return Ok(protocol);
    }
    let V::Obj(info) = info else { return Err(Defer) };
    for (key, value) in &info.0 {
        if matches!(value, V::Null) || key == "versionMajor" || key == "versionMinor" {
            continue;
        }
        match key.as_ref() {
            "host" => protocol.set(if valid_ip(value) { "host" } else { "host_raw" }, value.clone()),
            "protocol" => protocol.set("name", value.clone()),
            _ => protocol.set(snake_case(key)?, value.clone()),
        }
    }
    let major = info.get("versionMajor").filter(|v| !matches!(v, V::Null));
    let minor = info.get("versionMinor").filter(|v| !matches!(v, V::Null));
    if let Some(major) = major {
        let text = match minor {
            Some(minor) => format!("{}.{}", version_text(major)?, version_text(minor)?),
            None => version_text(major)?,
        };
        protocol.set("version", V::Str(Cow::Owned(text)));
    }
    Ok(protocol)
}

fn billing_fields<'a>(record: &Obj<'a>) -> R<Obj<'a>> {
    let mut billing = Obj::default();
    for (key, value) in &record.0 {
        if matches!(value, V::Null) {
            continue;
        }
        if let Some(name) = renamed(key) {
            billing.set(name, value.clone());
        } else if let Some(name) = duration(key) {
            billing.set(name, V::Float(duration_ms(value)?));
        } else if !handled(key) {
            let name = snake_case(key)?;
            if taken(&name) {
                if billing.get("unmapped").is_none() {
                    billing.set("unmapped", V::Obj(Obj::default()));
                }
                if let Some((_, V::Obj(unmapped))) =
                    billing.0.iter_mut().find(|(k, _)| k == "unmapped")
                {
                    unmapped.set(name, value.clone());
                }
            } else {
                billing.set(name, value.clone());
            }
        }
    }
    Ok(billing)
}

fn not_null<'b, 'a>(record: &'b Obj<'a>, key: &str) -> Option<&'b V<'a>> {
    record.get(key).filter(|v| !matches!(v, V::Null))
}

/// `parse_billing(record, ctx)` without its envelope; `event` is returned apart so that the
/// caller can add `event.original` and the rest in Python's key order.
pub fn document<'a>(record: &Obj<'a>, instance: Option<&str>) -> R<(Obj<'a>, Obj<'a>)> {
    let date = not_null(record, "date").ok_or(Defer)?;
    let msg_type = not_null(record, "msgType").ok_or(Defer)?;
    let mut billing = billing_fields(record)?;
    let V::Str(date) = date else { return Err(Defer) };
    let timestamp = iso_timestamp(date)?;
    let mut event = Obj::default();
    event.push("action", msg_type.clone());
    let mut doc = Obj::default();
    doc.push("@timestamp", V::Str(Cow::Owned(timestamp)));
    let mut dcache = Obj::default();
    if let Some(instance) = instance.filter(|i| !i.is_empty()) {
        dcache.push("instance", owned(instance));
    }
    for (key, name) in [("cellDomain", "domain"), ("cellName", "cell"), ("cellType", "cell_type")]
    {
        if let Some(value) = not_null(record, key) {
            dcache.push(name, value.clone());
        }
    }
    if let Some(status) = not_null(record, "status") {
        let V::Obj(fields) = status else { return Err(Defer) };
        billing.set("status", status.clone());
        if let Some(code) = not_null(fields, "code") {
            let zero = match code {
                V::Int(t) => t == "0",
                V::Float(f) => *f == 0.0,
                V::Bool(b) => !b,
                _ => false,
            };
            event.push("outcome", owned(if zero { "success" } else { "failure" }));
        }
    }
    if let Some(direction) = not_null(record, "isWrite") {
        billing.set("direction", direction.clone());
        let write = matches!(direction, V::Str(s) if s == "write");
        billing.set("is_write", V::Bool(write));
    }
    let protocol = protocol_fields(record)?;
    let host = protocol.get("host").cloned();
    if !protocol.is_empty() {
        billing.set("protocol", V::Obj(protocol));
    }
    if let Some(endpoint) = not_null(record, "localEndpoint") {
        let V::Str(endpoint) = endpoint else { return Err(Defer) };
        let mut fields = Obj::default();
        match split_endpoint(endpoint) {
            Some((ip, port)) => {
                fields.push("ip", owned(ip));
                fields.push("port", V::Int(Cow::Owned(port.to_string())));
            }
            None => fields.push("raw", V::Str(endpoint.clone())),
        }
        billing.set("local_endpoint", V::Obj(fields));
    }
    let subject = record.get("subject");
    let who = match subject {
        Some(subject) if truthy(subject) => {
            let V::Arr(items) = subject else { return Err(Defer) };
            identity(items)?
        }
        _ => Identity::default(),
    };
    let mut tail = Obj::default();
    let mut user = Obj::default();
    if let Some(uid) = who.uid {
        user.push("id", owned(uid));
    }
    if let Some(name) = who.name {
        user.push("name", owned(name));
    }
    if !user.is_empty() {
        tail.push("user", V::Obj(user));
    }
    if let Some(gid) = who.gid {
        let mut group = Obj::default();
        group.push("id", owned(gid));
        tail.push("group", V::Obj(group));
    }
    if let Some(fqan) = who.fqan {
        billing.set("fqan", owned(fqan));
    }
    let client_ip = match who.origin {
        Some(origin) => Some(owned(origin)),
        None => host,
    };
    if let Some(ip) = client_ip {
        let mut client = Obj::default();
        client.push("ip", ip);
        tail.push("client", V::Obj(client));
    }
    if matches!(msg_type, V::Str(s) if s == "remove") {
        let door = matches!(record.get("cellType"), Some(V::Str(s)) if s == "door");
        billing.set("door_remove", V::Bool(door));
    }
    doc.push("billing", V::Obj(billing));
    if !dcache.is_empty() {
        doc.push("dcache", V::Obj(dcache));
    }
    doc.0.extend(tail.0);
    Ok((doc, event))
}
