//! A strict JSON reader and an orjson-compatible writer.
//!
//! The reader accepts a subset of what orjson accepts and reads it to the same values; anything
//! outside that subset (duplicate keys, lone surrogates, integers beyond 64 bits, `-0`, numbers
//! that overflow, nesting deeper than `MAX_DEPTH`) is `Defer`: the message goes to the Python
//! path, which is the reference. The writer spells every value exactly as `orjson.dumps` does.

use std::borrow::Cow;

pub const MAX_DEPTH: usize = 128;

#[derive(Clone, Debug)]
pub enum V<'a> {
    Null,
    Bool(bool),
    /// An integer within orjson's 64-bit range, as its canonical decimal text.
    Int(Cow<'a, str>),
    Float(f64),
    Str(Cow<'a, str>),
    Arr(Vec<V<'a>>),
    Obj(Obj<'a>),
}

/// An object in insertion order; `set` keeps a key's first position, as a Python dict does.
#[derive(Clone, Debug, Default)]
pub struct Obj<'a>(pub Vec<(Cow<'a, str>, V<'a>)>);

impl<'a> Obj<'a> {
    pub fn get(&self, key: &str) -> Option<&V<'a>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn set(&mut self, key: impl Into<Cow<'a, str>>, value: V<'a>) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn push(&mut self, key: &'a str, value: V<'a>) {
        self.0.push((Cow::Borrowed(key), value));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Not an error of the message: a case this reader leaves to the Python reference.
#[derive(Debug)]
pub struct Defer;

pub type R<T> = Result<T, Defer>;

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

pub fn parse(text: &str) -> R<V<'_>> {
    let mut reader = Reader { text, bytes: text.as_bytes(), pos: 0 };
    let value = reader.value(0)?;
    reader.ws();
    if reader.pos != reader.bytes.len() {
        return Err(Defer);
    }
    Ok(value)
}

impl<'a> Reader<'a> {
    fn ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&self) -> R<u8> {
        self.bytes.get(self.pos).copied().ok_or(Defer)
    }

    fn expect(&mut self, b: u8) -> R<()> {
        if self.peek()? == b {
            self.pos += 1;
            Ok(())
        } else {
            Err(Defer)
        }
    }

    fn literal(&mut self, word: &[u8], value: V<'a>) -> R<V<'a>> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(Defer)
        }
    }

    fn value(&mut self, depth: usize) -> R<V<'a>> {
        self.ws();
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => Ok(V::Str(self.string()?)),
            b't' => self.literal(b"true", V::Bool(true)),
            b'f' => self.literal(b"false", V::Bool(false)),
            b'n' => self.literal(b"null", V::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(Defer),
        }
    }

    fn object(&mut self, depth: usize) -> R<V<'a>> {
        if depth > MAX_DEPTH {
            return Err(Defer);
        }
        self.pos += 1;
        let mut obj = Obj::default();
        self.ws();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Ok(V::Obj(obj));
        }
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return Err(Defer);
            }
            let key = self.string()?;
            if obj.0.iter().any(|(k, _)| *k == key) {
                return Err(Defer); // duplicate keys: Python keeps the last value in the first place
            }
            self.ws();
            self.expect(b':')?;
            let value = self.value(depth)?;
            obj.0.push((key, value));
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Ok(V::Obj(obj));
                }
                _ => return Err(Defer),
            }
        }
    }

    fn array(&mut self, depth: usize) -> R<V<'a>> {
        if depth > MAX_DEPTH {
            return Err(Defer);
        }
        self.pos += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek()? == b']' {
            self.pos += 1;
            return Ok(V::Arr(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Ok(V::Arr(items));
                }
                _ => return Err(Defer),
            }
        }
    }

    fn string(&mut self) -> R<Cow<'a, str>> {
        self.pos += 1;
        let start = self.pos;
        let rest = &self.bytes[start..];
        let stop = memchr::memchr2(b'"', b'\\', rest).ok_or(Defer)?;
        if rest[..stop].iter().any(|&b| b < 0x20) {
            return Err(Defer);
        }
        if rest[stop] == b'"' {
            self.pos = start + stop + 1;
            return Ok(Cow::Borrowed(&self.text[start..start + stop]));
        }
        let mut out = String::from(&self.text[start..start + stop]);
        self.pos = start + stop;
        loop {
            let b = self.peek()?;
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                b'\\' => {
                    self.pos += 1;
                    let e = self.peek()?;
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => return Err(Defer),
                    }
                }
                0..=0x1f => return Err(Defer),
                _ => {
                    let run = memchr::memchr2(b'"', b'\\', &self.bytes[self.pos..]).ok_or(Defer)?;
                    let chunk = &self.text[self.pos..self.pos + run];
                    if chunk.bytes().any(|b| b < 0x20) {
                        return Err(Defer);
                    }
                    out.push_str(chunk);
                    self.pos += run;
                }
            }
        }
    }

    fn hex4(&mut self) -> R<u32> {
        let digits = self.bytes.get(self.pos..self.pos + 4).ok_or(Defer)?;
        let text = std::str::from_utf8(digits).map_err(|_| Defer)?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Defer);
        }
        self.pos += 4;
        u32::from_str_radix(text, 16).map_err(|_| Defer)
    }

    fn unicode_escape(&mut self) -> R<char> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                    return Err(Defer);
                }
                self.pos += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(Defer);
                }
                0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(Defer),
            _ => first,
        };
        char::from_u32(code).ok_or(Defer)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> R<V<'a>> {
        let start = self.pos;
        if self.peek()? == b'-' {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = self.digits();
        if n == 0 || (n > 1 && self.bytes[int_start] == b'0') {
            return Err(Defer);
        }
        let mut float = false;
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(Defer);
            }
            float = true;
        }
        if matches!(self.bytes.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(Defer);
            }
            float = true;
        }
        let text = &self.text[start..self.pos];
        if float {
            let value: f64 = text.parse().map_err(|_| Defer)?;
            if !value.is_finite() {
                return Err(Defer);
            }
            return Ok(V::Float(value));
        }
        if text == "-0" {
            return Err(Defer); // orjson reads it as 0
        }
        let fits = if text.starts_with('-') {
            text.parse::<i64>().is_ok()
        } else {
            text.parse::<u64>().is_ok()
        };
        if !fits {
            return Err(Defer); // orjson reads these as floats
        }
        Ok(V::Int(Cow::Borrowed(text)))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// How orjson writes each byte inside a string: 0 raw, `u` as `\\u00XX`, else `\\` and that
/// letter. Only `"`, `\\` and the C0 controls are escaped; everything else goes out raw.
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Bytes escaped per step: the room reserved for one step is six times this.
const CHUNK: usize = 64;

/// A JSON string as orjson writes it. `event.original` has a quote every ~11 bytes, so a
/// scanner that copies runs between escapes spends its time on short copies; this writes byte
/// by byte into room reserved up front, without a branch on the common quote: the cheapest
/// form measured (docs/benchmarks.md, "Hot path").
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    for chunk in text.as_bytes().chunks(CHUNK) {
        out.reserve(chunk.len() * 6);
        let base = out.len();
        // SAFETY: `reserve` made room for six output bytes per input byte, the most any byte
        // takes (`\u00XX`), so every write below stays inside the allocation; `set_len`
        // covers exactly the bytes written, all initialised.
        unsafe {
            let start = out.as_mut_ptr().add(base);
            let mut dst = start;
            for &b in chunk {
                let letter = ESCAPE[b as usize];
                if letter == b'u' {
                    let six =
                        [b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]];
                    std::ptr::copy_nonoverlapping(six.as_ptr(), dst, 6);
                    dst = dst.add(6);
                    continue;
                }
                // No branch on the common quote: write both bytes, keep one or two.
                let escaped = letter != 0;
                *dst = if escaped { b'\\' } else { b };
                *dst.add(1) = letter;
                dst = dst.add(1 + usize::from(escaped));
            }
            out.set_len(base + dst.offset_from(start) as usize);
        }
    }
    out.push(b'"');
}

/// `orjson.dumps(float)`: ryu's shortest form, with `+` on a positive exponent.
pub fn write_float(out: &mut Vec<u8>, value: f64) {
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(value).as_bytes();
    match memchr::memchr(b'e', text) {
        Some(e) if text.get(e + 1) != Some(&b'-') => {
            out.extend_from_slice(&text[..=e]);
            out.push(b'+');
            out.extend_from_slice(&text[e + 1..]);
        }
        _ => out.extend_from_slice(text),
    }
}

pub fn write(out: &mut Vec<u8>, value: &V<'_>) {
    match value {
        V::Null => out.extend_from_slice(b"null"),
        V::Bool(true) => out.extend_from_slice(b"true"),
        V::Bool(false) => out.extend_from_slice(b"false"),
        V::Int(text) => out.extend_from_slice(text.as_bytes()),
        V::Float(f) => write_float(out, *f),
        V::Str(s) => write_str(out, s),
        V::Arr(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, item);
            }
            out.push(b']');
        }
        V::Obj(obj) => write_obj(out, obj),
    }
}

pub fn write_obj(out: &mut Vec<u8>, obj: &Obj<'_>) {
    out.push(b'{');
    for (i, (key, item)) in obj.0.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, key);
        out.push(b':');
        write(out, item);
    }
    out.push(b'}');
}
