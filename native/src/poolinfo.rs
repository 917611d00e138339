//! esbridge/transforms/poolinfo.py, step for step: a pool snapshot nested under `dcache.pool`.
//!
//! A mode that is not a string, or an `@timestamp` outside dCache's ISO forms, is `Defer`.

use std::borrow::Cow;

use crate::billing::iso_timestamp;
use crate::json::{Defer, Obj, R, V};
use crate::logs::{not_null, pool_mode_fields};
use crate::Parsed;

/// `RENAMED`: snapshot key -> (parent object under `dcache.pool`, field), moved as they are.
const RENAMED: [(&str, Option<&str>, &str); 18] = [
    ("groups", None, "groups"),
    ("links", None, "links"),
    ("enabled", None, "enabled"),
    ("read_only", None, "read_only"),
    ("dead", None, "dead"),
    ("status_code", None, "status_code"),
    ("status_message", None, "status_message"),
    ("repository_state", None, "repository_state"),
    ("space_total", Some("space"), "total"),
    ("space_free", Some("space"), "free"),
    ("space_precious", Some("space"), "precious"),
    ("space_removable", Some("space"), "removable"),
    ("space_used", Some("space"), "used"),
    ("space_gap", Some("space"), "gap"),
    ("cached", None, "cached"),
    ("usage_error", None, "usage_error"),
    ("missing", None, "missing"),
    ("last_modified", None, "last_modified"),
];

/// `parse_poolinfo(record, ctx)` without its envelope (the event goes last).
pub fn document<'a>(record: &Obj<'a>, instance: Option<&str>) -> R<Parsed<'a>> {
    let name = not_null(record, "pool").ok_or(Defer)?;
    let Some(V::Str(timestamp)) = not_null(record, "@timestamp") else {
        return Err(Defer);
    };
    let mut pool = Obj::default();
    pool.push("name", name.clone());
    if let Some(mode) = not_null(record, "mode") {
        let V::Str(mode) = mode else {
            return Err(Defer);
        };
        for (key, value) in pool_mode_fields(mode).0 {
            pool.set(key, value);
        }
    }
    for (key, parent, leaf) in RENAMED {
        let Some(value) = not_null(record, key) else {
            continue;
        };
        match parent {
            None => pool.set(leaf, value.clone()),
            Some(parent) => {
                if pool.get(parent).is_none() {
                    pool.push(parent, V::Obj(Obj::default()));
                }
                let Some((_, V::Obj(target))) = pool.0.iter_mut().find(|(k, _)| k == parent) else {
                    return Err(Defer);
                };
                target.set(leaf, value.clone());
            }
        }
    }
    let mut dcache = Obj::default();
    dcache.push("pool", V::Obj(pool));
    if let Some(domain) = not_null(record, "domain") {
        dcache.push("domain", domain.clone());
    }
    if let Some(instance) = instance.filter(|i| !i.is_empty()) {
        dcache.push("instance", V::Str(Cow::Owned(instance.to_owned())));
    }
    let mut doc = Obj::default();
    doc.push("@timestamp", V::Str(Cow::Owned(iso_timestamp(timestamp)?)));
    doc.push("dcache", V::Obj(dcache));
    if let Some(host) = not_null(record, "host") {
        let mut fields = Obj::default();
        fields.push("name", host.clone());
        doc.push("host", V::Obj(fields));
    }
    let at = doc.0.len();
    Ok((doc, Obj::default(), at))
}
