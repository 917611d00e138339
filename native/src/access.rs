//! esbridge/transforms/access.py, step for step: a NetLogger access line as Filebeat ships it.
//!
//! `urlsplit(url).path` is computed here only for ASCII URLs without brackets, spaces or
//! controls (where Python's IPv6 and NFKC checks cannot apply); a `ts=` outside dCache's ISO
//! forms, an integer beyond 64 bits and a `message` that is not a string are `Defer`.

use std::borrow::Cow;

use crate::billing::{iso_timestamp, split_endpoint};
use crate::json::{Defer, Obj, R, V};
use crate::logs::{file_stem, filebeat_timestamp, filebeat_value, not_null, owned, sub};
use crate::Parsed;

const OBJECT_KEYS: [&str; 5] = ["request", "response", "user", "socket", "error"];
const INTEGER_KEYS: [&str; 2] = ["duration", "response.code"];

type Fields<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

fn field<'b, 'a>(fields: &'b Fields<'a>, key: &str) -> Option<&'b Cow<'a, str>> {
    fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn pop<'a>(fields: &mut Fields<'a>, key: &str) -> Option<Cow<'a, str>> {
    let at = fields.iter().position(|(k, _)| k == key)?;
    Some(fields.remove(at).1)
}

/// `KEY_PATTERN`: dot-separated, non-empty segments of `[A-Za-z0-9_-]`.
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.split('.').all(|segment| {
            !segment.is_empty()
                && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

/// `split_access_line`: `key=value key="quoted \"value\""` -> fields, last key wins in place.
fn split_line<'a>(line: &Cow<'a, str>) -> R<Fields<'a>> {
    let b = line.as_bytes();
    let mut fields: Fields<'a> = Vec::new();
    let mut position = 0;
    while position < b.len() {
        if b[position] == b' ' {
            position += 1;
            continue;
        }
        let equals = position + memchr::memchr(b'=', &b[position..]).ok_or(Defer)?;
        let key = sub(line, position, equals);
        if !valid_key(&key) {
            return Err(Defer);
        }
        let value = if b.get(equals + 1) == Some(&b'"') {
            let (value, end) = quoted(line, equals + 2)?;
            position = end;
            value
        } else {
            let start = equals + 1;
            position = memchr::memchr(b' ', &b[start..]).map_or(b.len(), |i| start + i);
            sub(line, start, position)
        };
        match fields.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => fields.push((key, value)),
        }
    }
    Ok(fields)
}

/// `_quoted_value`: the value of a quoted token opened just before `start`, and its end.
fn quoted<'a>(line: &Cow<'a, str>, start: usize) -> R<(Cow<'a, str>, usize)> {
    let b = line.as_bytes();
    let mut out = String::new();
    let mut position = start;
    let mut quote =
        position + memchr::memchr(b'"', b.get(position..).ok_or(Defer)?).ok_or(Defer)?;
    loop {
        let Some(backslash) = memchr::memchr(b'\\', &b[position..quote]).map(|i| position + i)
        else {
            if out.is_empty() && position == start {
                return Ok((sub(line, start, quote), quote + 1));
            }
            out.push_str(&line[position..quote]);
            return Ok((Cow::Owned(out), quote + 1));
        };
        out.push_str(&line[position..backslash]);
        let escaped = line[backslash + 1..].chars().next().ok_or(Defer)?;
        match escaped {
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            other => {
                out.push('\\');
                out.push(other);
            }
        }
        position = backslash + 1 + escaped.len_utf8();
        if position > quote {
            quote =
                position + memchr::memchr(b'"', b.get(position..).ok_or(Defer)?).ok_or(Defer)?;
        }
    }
}

/// `_integer`: ASCII digits -> an integer (beyond 64 bits orjson refuses it: `Defer`).
fn integer<'a>(text: Option<&Cow<'a, str>>) -> R<Option<V<'a>>> {
    let Some(text) = text.filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())) else {
        return Ok(None);
    };
    let number: u64 = text.parse().map_err(|_| Defer)?;
    Ok(Some(V::Int(Cow::Owned(number.to_string()))))
}

fn key_path(key: &str) -> Vec<Cow<'static, str>> {
    if OBJECT_KEYS.contains(&key) {
        return vec![Cow::Owned(key.to_owned()), Cow::Borrowed("value")];
    }
    key.replace('-', "_").split('.').map(|part| Cow::Owned(part.to_owned())).collect()
}

/// `_access_tree`: access.* nested; a key both leaf and parent keeps its leaf at `.value`.
fn access_tree<'a>(fields: &Fields<'a>) -> R<Obj<'a>> {
    let mut tree = Obj::default();
    for (key, text) in fields {
        let value = if INTEGER_KEYS.contains(&key.as_ref()) {
            match integer(Some(text))? {
                Some(value) => value,
                None => continue,
            }
        } else {
            V::Str(text.clone())
        };
        let path = key_path(key);
        let (leaf, parents) = path.split_last().ok_or(Defer)?;
        let mut node = &mut tree;
        for part in parents {
            let at = match node.0.iter().position(|(k, _)| k == part) {
                Some(at) => {
                    if !matches!(node.0[at].1, V::Obj(_)) {
                        let leaf_value = std::mem::replace(&mut node.0[at].1, V::Null);
                        let mut child = Obj::default();
                        child.push("value", leaf_value);
                        node.0[at].1 = V::Obj(child);
                    }
                    at
                }
                None => {
                    node.0.push((part.clone(), V::Obj(Obj::default())));
                    node.0.len() - 1
                }
            };
            let V::Obj(child) = &mut node.0[at].1 else {
                return Err(Defer);
            };
            node = child;
        }
        match node.0.iter_mut().find(|(k, _)| k == leaf) {
            Some((_, V::Obj(child))) => child.set("value", value),
            Some((_, slot)) => *slot = value,
            None => node.0.push((leaf.clone(), value)),
        }
    }
    Ok(tree)
}

/// `urlsplit(url).path` for URLs where no Python-version-specific check applies; else Defer.
fn url_path(url: &str) -> R<&str> {
    if url.bytes().any(|b| b <= b' ' || b >= 0x7f || b == b'[' || b == b']') {
        return Err(Defer);
    }
    let mut rest = url;
    if let Some(colon) = url.find(':') {
        let scheme = &url[..colon];
        let letter = scheme.bytes().next().is_some_and(|b| b.is_ascii_alphabetic());
        let chars = scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if letter && chars {
            rest = &url[colon + 1..];
        }
    }
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        rest = &after[end..];
    }
    let end = rest.find('#').unwrap_or(rest.len());
    let rest = &rest[..end];
    Ok(&rest[..rest.find('?').unwrap_or(rest.len())])
}

fn object<'a>(key: &'a str, value: V<'a>) -> V<'a> {
    let mut fields = Obj::default();
    fields.push(key, value);
    V::Obj(fields)
}

/// `_add_ecs_copies`: url, http, source and user_agent, copied from the access keys.
fn ecs_copies<'a>(doc: &mut Obj<'a>, fields: &Fields<'a>) -> R<()> {
    if let Some(url) = field(fields, "request.url").filter(|u| !u.is_empty()) {
        let mut fields = Obj::default();
        fields.push("full", V::Str(url.clone()));
        let path = url_path(url)?;
        if !path.is_empty() {
            fields.push("path", owned(path));
        }
        doc.push("url", V::Obj(fields));
    }
    let mut http = Obj::default();
    if let Some(method) = field(fields, "request.method").filter(|m| !m.is_empty()) {
        http.push("request", object("method", V::Str(method.clone())));
    }
    if let Some(status) = integer(field(fields, "response.code"))? {
        http.push("response", object("status_code", status));
    }
    if !http.is_empty() {
        doc.push("http", V::Obj(http));
    }
    if let Some(remote) = field(fields, "socket.remote").filter(|r| !r.is_empty()) {
        if let Some((ip, port)) = split_endpoint(remote) {
            let mut source = Obj::default();
            source.push("ip", owned(ip));
            source.push("port", V::Int(Cow::Owned(port.to_string())));
            doc.push("source", V::Obj(source));
        }
    }
    if let Some(agent) = field(fields, "user-agent").filter(|a| !a.is_empty()) {
        doc.push("user_agent", object("original", V::Str(agent.clone())));
    }
    Ok(())
}

/// `parse_access(record, ctx)` without its envelope: the event goes where the line's
/// `event=` put it, or last.
pub fn document<'a>(record: &Obj<'a>, instance: Option<&str>) -> R<Parsed<'a>> {
    let Some(V::Str(line)) = not_null(record, "message") else {
        return Err(Defer);
    };
    let mut fields = split_line(line)?;
    let level = pop(&mut fields, "level");
    let action = pop(&mut fields, "event");
    let timestamp = match pop(&mut fields, "ts").filter(|ts| !ts.is_empty()) {
        Some(ts) => iso_timestamp(&ts)?,
        None => filebeat_timestamp(record)?,
    };
    let mut doc = Obj::default();
    doc.push("@timestamp", V::Str(Cow::Owned(timestamp)));
    if let Some(level) = level.filter(|l| !l.is_empty()) {
        doc.push("log", object("level", V::Str(level)));
    }
    let mut event = Obj::default();
    let mut at = None;
    if let Some(action) = action.filter(|a| !a.is_empty()) {
        event.push("action", V::Str(action));
        at = Some(doc.0.len());
    }
    doc.push("access", V::Obj(access_tree(&fields)?));
    ecs_copies(&mut doc, &fields)?;
    if let Some(host) = filebeat_value(record, &["host", "name"]) {
        doc.push("host", object("name", host.clone()));
    }
    let mut dcache = Obj::default();
    if let Some(instance) = instance.filter(|i| !i.is_empty()) {
        dcache.push("instance", owned(instance));
    }
    if let Some(domain) = file_stem(filebeat_value(record, &["log", "file", "path"]), ".access") {
        dcache.push("domain", V::Str(domain));
    }
    if !dcache.is_empty() {
        doc.push("dcache", V::Obj(dcache));
    }
    let at = at.unwrap_or(doc.0.len());
    Ok((doc, event, at))
}
