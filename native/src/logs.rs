//! esbridge/transforms/logs.py, step for step: a dCache domain log line as Filebeat ships it.
//!
//! The layout regex is a hand-written scanner of the same grammar. A line's own date is read in
//! `log_timezone` through the table Python's zoneinfo made (`Zone`); a date outside the table's
//! window, a pool-state line with non-ASCII text or control characters (where Python's Unicode
//! `\s` would decide), and a Filebeat `@timestamp` outside dCache's ISO forms are `Defer`.

use std::borrow::Cow;

use crate::billing::{civil_from_days, days_from_civil, iso_timestamp};
use crate::json::{Defer, Obj, R, V};
use crate::Parsed;

const MONTHS: [(&[u8], u32); 13] = [
    (b"Jan", 1),
    (b"Feb", 2),
    (b"Mar", 3),
    (b"Apr", 4),
    (b"May", 5),
    (b"Jun", 6),
    (b"Jul", 7),
    (b"Aug", 8),
    (b"Sept", 9),
    (b"Sep", 9),
    (b"Oct", 10),
    (b"Nov", 11),
    (b"Dec", 12),
];

const POOL_MODE_PREFIX: &str = "Pool mode changed to ";

pub fn not_null<'b, 'a>(record: &'b Obj<'a>, key: &str) -> Option<&'b V<'a>> {
    record.get(key).filter(|v| !matches!(v, V::Null))
}

/// `text[start..end]`, borrowed where `text` is.
pub fn sub<'a>(text: &Cow<'a, str>, start: usize, end: usize) -> Cow<'a, str> {
    match text {
        Cow::Borrowed(s) => Cow::Borrowed(&s[start..end]),
        Cow::Owned(s) => Cow::Owned(s[start..end].to_owned()),
    }
}

pub fn owned<'a>(text: &str) -> V<'a> {
    V::Str(Cow::Owned(text.to_owned()))
}

fn object<'a>(key: &'a str, value: V<'a>) -> V<'a> {
    let mut fields = Obj::default();
    fields.push(key, value);
    V::Obj(fields)
}

/// `filebeat_value`: `event[a][b]...`, None where the path stops (or ends at a null).
pub fn filebeat_value<'b, 'a>(event: &'b Obj<'a>, path: &[&str]) -> Option<&'b V<'a>> {
    let mut node = event;
    let (last, parents) = path.split_last()?;
    for key in parents {
        let Some(V::Obj(child)) = node.get(key) else {
            return None;
        };
        node = child;
    }
    not_null(node, last)
}

/// `filebeat_timestamp`: Filebeat's `@timestamp`, as `parse_iso_timestamp` reads it.
pub fn filebeat_timestamp(event: &Obj<'_>) -> R<String> {
    match not_null(event, "@timestamp") {
        Some(V::Str(text)) => iso_timestamp(text),
        _ => Err(Defer),
    }
}

/// `_between`: what lies between an ASCII `prefix` and `suffix`; None when not so framed.
pub fn between<'a>(value: Option<&V<'a>>, prefix: &str, suffix: &str) -> Option<Cow<'a, str>> {
    let Some(V::Str(text)) = value else {
        return None;
    };
    let framed = text.len() > prefix.len() + suffix.len()
        && text.starts_with(prefix)
        && text.ends_with(suffix);
    framed.then(|| sub(text, prefix.len(), text.len() - suffix.len()))
}

/// `file_stem`: `/var/log/dcache/<stem><suffix>` -> `<stem>`.
pub fn file_stem<'a>(path: Option<&V<'a>>, suffix: &str) -> Option<Cow<'a, str>> {
    let Some(V::Str(path)) = path else {
        return None;
    };
    let start = memchr::memrchr(b'/', path.as_bytes()).map_or(0, |i| i + 1);
    between(Some(&V::Str(sub(path, start, path.len()))), "", suffix)
}

/// `pool_mode_fields`: `enabled` or `disabled(<flags>)[: <reason>]` -> mode, flags, reason.
pub fn pool_mode_fields<'a>(text: &Cow<'a, str>) -> Obj<'a> {
    let (mode, reason) = match text.find(": ") {
        Some(i) => (sub(text, 0, i), Some(sub(text, i + 2, text.len()))),
        None => (text.clone(), None),
    };
    let mut fields = Obj::default();
    let flags = between(Some(&V::Str(mode.clone())), "disabled(", ")");
    fields.push("mode", V::Str(mode));
    if let Some(flags) = flags {
        let items = flags.split(',').map(owned).collect();
        fields.push("flags", V::Arr(items));
    }
    if let Some(reason) = reason.filter(|r| !r.is_empty()) {
        fields.push("reason", V::Str(reason));
    }
    fields
}

/// The run of `text` up to the first byte for which `stop` holds.
fn run(text: &str, stop: impl Fn(u8) -> bool) -> (&str, &str) {
    let end = text.bytes().position(stop).unwrap_or(text.len());
    text.split_at(end)
}

/// `_POOL_ECHO`: `Pool <pool> changed from mode <previous> +to <mode>.`
fn pool_echo(message: &str) -> Option<(&str, &str, &str)> {
    let rest = message.strip_prefix("Pool ")?;
    let (pool, rest) = run(rest, |b| b == b' ');
    let rest = rest.strip_prefix(" changed from mode ")?;
    let (previous, rest) = run(rest, |b| b == b' ');
    let (spaces, rest) = run(rest, |b| b != b' ');
    let mode = rest.strip_prefix("to ")?.strip_suffix('.')?;
    let ok = !pool.is_empty() && !previous.is_empty() && !spaces.is_empty() && !mode.is_empty();
    (ok && !mode.contains(' ')).then_some((pool, previous, mode))
}

/// `POOL_DOWN_PATTERN`: `Pool <pool> declared as DOWN: <reason>[.]`
fn pool_down(message: &str) -> Option<(&str, &str)> {
    let rest = message.strip_prefix("Pool ")?;
    let (pool, rest) = run(rest, |b| b == b' ');
    let reason = rest.strip_prefix(" declared as DOWN: ")?;
    (!pool.is_empty()).then_some((pool, reason.strip_suffix('.').unwrap_or(reason)))
}

/// `POOL_FAULT_PATTERN`: `Pool: <pool>, fault occurred in <x>: <reason>. Pool <mode>:[ ]`
fn pool_fault(message: &str) -> Option<(&str, &str)> {
    let rest = message.strip_prefix("Pool: ")?;
    let (pool, rest) = run(rest, |b| b == b' ' || b == b',');
    let rest = rest.strip_prefix(", fault occurred in ")?;
    let colon = rest.find(':')?;
    let tail = rest[colon..].strip_prefix(": ")?;
    let tail = tail.strip_suffix(' ').unwrap_or(tail).strip_suffix(':')?;
    let reason = ["read-only", "disabled", "restart required"]
        .iter()
        .find_map(|mode| tail.strip_suffix(mode)?.strip_suffix(". Pool "))?;
    (!pool.is_empty()).then_some((pool, reason))
}

/// `pool_state_fields`: dcache.pool.* for a pool-state line, None for any other message.
fn pool_state_fields<'a>(cell: &Cow<'a, str>, message: &Cow<'a, str>) -> R<Option<Obj<'a>>> {
    if let Some(rest) = message.strip_prefix(POOL_MODE_PREFIX) {
        let mut fields = pool_mode_fields(&Cow::Owned(rest.to_owned()));
        fields.set("name", V::Str(cell.clone()));
        return Ok(Some(fields));
    }
    if !message.starts_with("Pool") {
        return Ok(None);
    }
    if message.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
        return Err(Defer); // Python's Unicode `\s` and `.` would decide
    }
    if let Some((pool, previous, mode)) = pool_echo(message) {
        let mut fields = pool_mode_fields(&Cow::Owned(mode.to_owned()));
        fields.set("name", owned(pool));
        fields.set("previous_mode", owned(previous));
        return Ok(Some(fields));
    }
    Ok(pool_down(message).or_else(|| pool_fault(message)).map(|(pool, reason)| {
        let mut fields = Obj::default();
        fields.push("name", owned(pool));
        fields.push("reason", owned(reason));
        fields
    }))
}

fn two(b: &[u8]) -> Option<u32> {
    b.iter().all(u8::is_ascii_digit).then(|| b.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

struct Layout {
    date: [u32; 6],
    cell: (usize, usize),
    ndc: (usize, usize),
    message: usize,
}

/// `LOG_LINE_PATTERN`, fullmatched: `dd MMM yyyy HH:mm:ss (cell) [ndc] message`.
fn layout(line: &str) -> Option<Layout> {
    let b = line.as_bytes();
    let day = two(b.get(0..2)?)?;
    if b.get(2) != Some(&b' ') {
        return None;
    }
    let (name, month) = MONTHS
        .iter()
        .find(|(name, _)| b[3..].starts_with(name) && b.get(3 + name.len()) == Some(&b' '))?;
    let p = 4 + name.len();
    let year = two(b.get(p..p + 4)?)?;
    let t = p + 5;
    let clock = b.get(p + 4..t + 8)?;
    if clock[0] != b' ' || clock[3] != b':' || clock[6] != b':' {
        return None;
    }
    let (hour, minute, second) = (two(&clock[1..3])?, two(&clock[4..6])?, two(&clock[7..9])?);
    if b.get(t + 8..t + 10)? != b" (" {
        return None;
    }
    let cell_start = t + 10;
    let cell_end = cell_start + memchr::memchr(b')', &b[cell_start..])?;
    if b.get(cell_end..cell_end + 3)? != b") [" {
        return None;
    }
    let ndc_start = cell_end + 3;
    let ndc_end = ndc_start + memchr::memchr(b']', &b[ndc_start..])?;
    let mut message = ndc_end + 1;
    if b.get(message) == Some(&b' ') {
        message += 1;
    }
    Some(Layout {
        date: [year, *month, day, hour, minute, second],
        cell: (cell_start, cell_end),
        ndc: (ndc_start, ndc_end),
        message,
    })
}

/// `log_timezone` as zoneinfo reads a wall time with fold=0: the UTC offset (seconds) is
/// `offsets[i]`, `i` the number of `walls` (local seconds since 1970) at or before it. Made by
/// `esbridge.ingest.engine.log_zone_table`; wall times outside `[start, end)` are `Defer`.
pub struct Zone {
    pub start: i64,
    pub end: i64,
    pub walls: Vec<i64>,
    pub offsets: Vec<i64>,
}

impl Zone {
    fn utc(&self, local: i64) -> R<i64> {
        if local < self.start || local >= self.end {
            return Err(Defer);
        }
        let offset = self.offsets.get(self.walls.partition_point(|&w| w <= local)).ok_or(Defer)?;
        Ok(local - offset)
    }
}

/// `parse_log_timestamp`: Ok(None) where Python's `datetime` refuses the date.
fn log_timestamp(
    [year, month, day, hour, minute, second]: [u32; 6],
    zone: &Zone,
) -> R<Option<String>> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let valid = year >= 1
        && (1..=month_days[month as usize - 1]).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return Ok(None);
    }
    let days = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
    let local = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    let utc = zone.utc(local)?;
    let (y, mo, d) = civil_from_days(utc.div_euclid(86_400));
    let s = utc.rem_euclid(86_400);
    if !(1..=9999).contains(&y) {
        return Err(Defer);
    }
    let (h, mi, s) = (s / 3600, s / 60 % 60, s % 60);
    Ok(Some(format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.000Z")))
}

/// `parse_logs(record, ctx)` without its envelope (the event goes last).
pub fn document<'a>(record: &Obj<'a>, instance: Option<&str>, zone: &Zone) -> R<Parsed<'a>> {
    let Some(V::Str(text)) = not_null(record, "message") else {
        return Err(Defer);
    };
    let newline = memchr::memchr(b'\n', text.as_bytes());
    let first = sub(text, 0, newline.unwrap_or(text.len()));
    let found = layout(&first);
    let mut log = Obj::default();
    log.push("parsed", V::Bool(found.is_some()));
    let mut doc = Obj::default();
    if let Some(path) = filebeat_value(record, &["log", "file", "path"]) {
        log.push("file", object("path", path.clone()));
    }
    let identifier = filebeat_value(record, &["syslog", "identifier"]);
    if let Some(identifier) = identifier {
        log.push("syslog", object("identifier", identifier.clone()));
    }
    if let Some(host) = filebeat_value(record, &["host", "name"]) {
        doc.push("host", object("name", host.clone()));
    }
    let mut dcache = Obj::default();
    if let Some(instance) = instance.filter(|i| !i.is_empty()) {
        dcache.push("instance", owned(instance));
    }
    let domain = between(identifier, "dcache@", "")
        .or_else(|| between(filebeat_value(record, &["systemd", "unit"]), "dcache@", ".service"))
        .or_else(|| file_stem(filebeat_value(record, &["log", "file", "path"]), ".log"));
    if let Some(domain) = domain {
        dcache.push("domain", V::Str(domain));
    }
    match found {
        None => {
            doc.push("@timestamp", V::Str(Cow::Owned(filebeat_timestamp(record)?)));
            doc.push("message", V::Str(text.clone()));
        }
        Some(found) => {
            let timestamp = match log_timestamp(found.date, zone)? {
                Some(timestamp) => timestamp,
                None => filebeat_timestamp(record)?,
            };
            doc.push("@timestamp", V::Str(Cow::Owned(timestamp)));
            let message = sub(&first, found.message, first.len());
            doc.push("message", V::Str(message.clone()));
            if let Some(newline) = newline {
                doc.push(
                    "error",
                    object("stack_trace", V::Str(sub(text, newline + 1, text.len()))),
                );
            }
            let (cell, ndc) =
                (sub(&first, found.cell.0, found.cell.1), sub(&first, found.ndc.0, found.ndc.1));
            if !ndc.is_empty() {
                log.push("ndc", V::Str(ndc));
            }
            if !cell.is_empty() {
                log.push("logger", V::Str(cell.clone()));
                dcache.push("cell", V::Str(cell.clone()));
                if let Some(pool) = pool_state_fields(&cell, &message)? {
                    dcache.push("pool", V::Obj(pool));
                }
            }
        }
    }
    doc.0.insert(0, (Cow::Borrowed("log"), V::Obj(log)));
    if !dcache.is_empty() {
        doc.push("dcache", V::Obj(dcache));
    }
    let at = doc.0.len();
    Ok((doc, Obj::default(), at))
}
