//! `esbridge._native`: Kafka messages -> bulk lines, one call per batch of one topic.
//!
//! `<parser>_lines` (billing, logs, access, poolinfo) is byte-identical to
//! `esbridge.ingest.encode.to_item` with that Python parser (tests/unit/test_native_*.py). A
//! message it cannot prove identical (every future dead letter among them) comes back as
//! `None`, and the caller runs the Python reference on it.

mod access;
mod billing;
mod json;
mod logs;
mod poolinfo;

use std::fmt::Write;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

use json::{write, write_obj, write_str, Obj, R, V};

struct Route {
    producer: String,
    index: String,
    id_prefix: String,
    deterministic_ids: bool,
    dcache_instance: Option<String>,
    mandatory: Vec<Vec<String>>,
    max_message_bytes: usize,
    original_max_bytes: usize,
    /// `producers[].event_original`: without it no `original`/`truncated` keys.
    event_original: bool,
}

fn missing(record: &Obj<'_>, mandatory: &[Vec<String>]) -> bool {
    mandatory.iter().any(|path| {
        let mut node: Option<&V<'_>> = None;
        let mut current = Some(record);
        for key in path {
            node = current.and_then(|obj| obj.get(key));
            current = match node {
                Some(V::Obj(obj)) => Some(obj),
                _ => None,
            };
        }
        match node {
            None | Some(V::Null) => true,
            Some(V::Str(s)) => s.is_empty(),
            _ => false,
        }
    })
}

fn original(raw: &str, cap: usize) -> (&str, bool) {
    if raw.len() <= cap {
        return (raw, false);
    }
    let mut end = cap;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    (&raw[..end], true)
}

/// A producer's document without its envelope: the document, its `event` object, and the
/// position in the document where `event` goes (where the parser put it, or last).
pub type Parsed<'a> = (Obj<'a>, Obj<'a>, usize);

/// One producer's parser: a decoded record -> `Parsed`, or `Defer`.
type Document<'r> = &'r dyn for<'v> Fn(&Obj<'v>) -> R<Parsed<'v>>;

/// `f` as a `Document`: a closure's lifetimes are only inferred as general as this needs
/// when it is passed where the bound is spelled out.
fn parser<F: for<'v> Fn(&Obj<'v>) -> R<Parsed<'v>>>(f: F) -> F {
    f
}

fn billing_document<'v>(record: &Obj<'v>, instance: Option<&str>) -> R<Parsed<'v>> {
    let (doc, event) = billing::document(record, instance)?;
    Ok((doc, event, 1))
}

#[allow(clippy::too_many_arguments)]
fn line(
    route: &Route,
    document: Document<'_>,
    topic: &str,
    partition: i64,
    offset: i64,
    value: &[u8],
    ingested: &str,
    hash: &str,
    doc_id: &str,
    out: &mut Vec<u8>,
) -> R<()> {
    if value.len() > route.max_message_bytes {
        return Err(json::Defer);
    }
    let text = std::str::from_utf8(value).map_err(|_| json::Defer)?;
    let V::Obj(record) = json::parse(text)? else {
        return Err(json::Defer);
    };
    if missing(&record, &route.mandatory) {
        return Err(json::Defer);
    }
    let (doc, mut event, at) = document(&record)?;
    if route.event_original {
        let (kept, truncated) = original(text, route.original_max_bytes);
        event.push("original", V::Str(kept.into()));
        if truncated {
            event.push("truncated", V::Bool(true));
        }
    }
    event.push("ingested", V::Str(ingested.into()));
    event.push("hash", V::Str(hash.into()));

    // Nothing below fails: a deferred message leaves `out` as it was.
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(if route.deterministic_ids { b"create" } else { b"index" });
    out.extend_from_slice(b"\":{\"_index\":\"");
    out.extend_from_slice(route.index.as_bytes());
    if route.deterministic_ids {
        out.extend_from_slice(b"\",\"_id\":\"");
        out.extend_from_slice(doc_id.as_bytes());
    }
    out.extend_from_slice(b"\",\"require_alias\":true}}\n{");
    for (key, item) in &doc.0[..at] {
        write_str(out, key);
        out.push(b':');
        write(out, item);
        out.push(b',');
    }
    out.extend_from_slice(b"\"event\":");
    write_obj(out, &event);
    for (key, item) in &doc.0[at..] {
        out.push(b',');
        write_str(out, key);
        out.push(b':');
        write(out, item);
    }
    out.extend_from_slice(b",\"producer\":");
    write_str(out, &route.producer);
    out.extend_from_slice(b",\"kafka\":{\"topic\":");
    write_str(out, topic);
    out.extend_from_slice(
        format!(",\"partition\":{partition},\"offset\":{offset}}}}}\n").as_bytes(),
    );
    Ok(())
}

/// For each message of one billing topic: `(bulk line, event.hash, id)`, or `None` where the
/// Python path must decide (a dead letter, or a case not proven identical here).
#[pyfunction]
#[pyo3(signature = (values, partitions, offsets, topic, producer, index, id_prefix,
    deterministic_ids, dcache_instance, mandatory, max_message_bytes, original_max_bytes,
    ingested, event_original=true))]
#[allow(clippy::too_many_arguments)]
fn billing_lines<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyList>,
    partitions: Vec<i64>,
    offsets: Vec<i64>,
    topic: &str,
    producer: String,
    index: String,
    id_prefix: String,
    deterministic_ids: bool,
    dcache_instance: Option<String>,
    mandatory: Vec<Vec<String>>,
    max_message_bytes: usize,
    original_max_bytes: usize,
    ingested: &str,
    event_original: bool,
) -> PyResult<Bound<'py, PyList>> {
    let route = Route {
        producer,
        index,
        id_prefix,
        deterministic_ids,
        dcache_instance,
        mandatory,
        max_message_bytes,
        original_max_bytes,
        event_original,
    };
    let instance = route.dcache_instance.as_deref();
    let document = parser(|record| billing_document(record, instance));
    batch(py, &document, &route, values, &partitions, &offsets, topic, ingested)
}

/// `line` for each message of a batch, the GIL released: `(bulk line, event.hash, doc id)` or
/// `None`. The id is `<id prefix>-<partition>-<offset>` whether or not the action carries it
/// (a dead letter later made of the item keeps it), so Python formats none.
#[allow(clippy::too_many_arguments)]
fn batch<'py>(
    py: Python<'py>,
    document: &(dyn for<'v> Fn(&Obj<'v>) -> R<Parsed<'v>> + Sync),
    route: &Route,
    values: &Bound<'py, PyList>,
    partitions: &[i64],
    offsets: &[i64],
    topic: &str,
    ingested: &str,
) -> PyResult<Bound<'py, PyList>> {
    let raw: Vec<Option<Bound<'py, PyBytes>>> = values.extract()?;
    let views: Vec<Option<&[u8]>> = raw.iter().map(|v| v.as_ref().map(|b| b.as_bytes())).collect();
    let input: usize = views.iter().flatten().map(|v| v.len()).sum();
    // Every line, hash and id of the batch in one buffer (no allocation per message); per
    // message the ends of its three parts, the start being the previous message's end.
    let (buf, spans) = py.detach(|| {
        let mut buf: Vec<u8> = Vec::with_capacity(input * 2 + views.len() * 640);
        let mut spans: Vec<Option<(usize, usize, usize, usize)>> = Vec::with_capacity(views.len());
        let mut params = blake2b_simd::Params::new();
        params.hash_length(8);
        let mut doc_id = String::new();
        for (value, (&partition, &offset)) in views.iter().zip(partitions.iter().zip(offsets)) {
            let Some(value) = *value else {
                spans.push(None);
                continue;
            };
            let hash = params.hash(value);
            let hex = hash.to_hex();
            doc_id.clear();
            write!(doc_id, "{}-{partition}-{offset}", route.id_prefix).expect("a String takes it");
            let start = buf.len();
            let made = line(
                route, document, topic, partition, offset, value, ingested, &hex, &doc_id, &mut buf,
            );
            if made.is_err() {
                spans.push(None);
                continue;
            }
            let line_end = buf.len();
            buf.extend_from_slice(hex.as_bytes());
            let hash_end = buf.len();
            buf.extend_from_slice(doc_id.as_bytes());
            spans.push(Some((start, line_end, hash_end, buf.len())));
        }
        (buf, spans)
    });
    let text = |range: std::ops::Range<usize>| {
        std::str::from_utf8(&buf[range]).expect("hex digits and the id's UTF-8")
    };
    let out = PyList::empty(py);
    for span in spans {
        match span {
            Some((start, line_end, hash_end, end)) => out.append((
                PyBytes::new(py, &buf[start..line_end]),
                PyString::new(py, text(line_end..hash_end)),
                PyString::new(py, text(hash_end..end)),
            ))?,
            None => out.append(py.None())?,
        }
    }
    Ok(out)
}

macro_rules! producer_lines {
    ($name:ident, $doc:expr, $what:literal) => {
        #[doc = concat!("For each message of one ", $what, " topic: `(bulk line, event.hash, id)`,")]
        #[doc = "or `None` where the Python path must decide (a dead letter, or a case not"]
        #[doc = "proven identical here). `log_zone`: `engine.log_zone_table` (logs only)."]
        #[pyfunction]
        #[pyo3(signature = (values, partitions, offsets, topic, producer, index, id_prefix,
            deterministic_ids, dcache_instance, mandatory, max_message_bytes, original_max_bytes,
            ingested, log_zone, event_original=true))]
        #[allow(clippy::too_many_arguments)]
        fn $name<'py>(
            py: Python<'py>,
            values: &Bound<'py, PyList>,
            partitions: Vec<i64>,
            offsets: Vec<i64>,
            topic: &str,
            producer: String,
            index: String,
            id_prefix: String,
            deterministic_ids: bool,
            dcache_instance: Option<String>,
            mandatory: Vec<Vec<String>>,
            max_message_bytes: usize,
            original_max_bytes: usize,
            ingested: &str,
            log_zone: (i64, i64, Vec<i64>, Vec<i64>),
            event_original: bool,
        ) -> PyResult<Bound<'py, PyList>> {
            let route = Route {
                producer,
                index,
                id_prefix,
                deterministic_ids,
                dcache_instance,
                mandatory,
                max_message_bytes,
                original_max_bytes,
                event_original,
            };
            let instance = route.dcache_instance.as_deref();
            let (start, end, walls, zone_offsets) = log_zone;
            let zone = logs::Zone { start, end, walls, offsets: zone_offsets };
            let document = parser(|record| ($doc)(record, instance, &zone));
            batch(py, &document, &route, values, &partitions, &offsets, topic, ingested)
        }
    };
}

producer_lines!(logs_lines, logs::document, "logs");
producer_lines!(
    access_lines,
    |record, instance, _zone| access::document(record, instance),
    "access"
);
producer_lines!(
    poolinfo_lines,
    |record, instance, _zone| poolinfo::document(record, instance),
    "poolinfo"
);

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(billing_lines, m)?)?;
    m.add_function(wrap_pyfunction!(logs_lines, m)?)?;
    m.add_function(wrap_pyfunction!(access_lines, m)?)?;
    m.add_function(wrap_pyfunction!(poolinfo_lines, m)?)?;
    Ok(())
}
