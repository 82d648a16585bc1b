//! Path safety for the agent HTTP path, checked before anything else (and again by the executor,
//! which never trusts the gateway to have done it). A path is refused when, at any layer of
//! repeated percent-decoding, it has a `.`/`..` segment, an empty segment (`//host`, an encoded
//! slash), a backslash, a control character, an invalid or overlong encoding, or a first segment
//! that could be read as a host or scheme (`@`, `:`). The upstream URL is then always the target's
//! base URL + the path as sent + the query, and its origin is checked to be the target's.

use url::Url;

/// Longest accepted path or query, in bytes.
pub const MAX_PATH_LEN: usize = 8 * 1024;
/// Percent-decoding layers inspected; a path still encoded past this is refused.
const MAX_DECODE_LAYERS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path has a '.' or '..' segment")]
    DotSegment,
    #[error("path has an empty segment")]
    EmptySegment,
    #[error("path has a backslash")]
    Backslash,
    #[error("path or query has a control character")]
    ControlChar,
    #[error("path or query has an invalid percent-encoding")]
    BadEncoding,
    #[error("path is encoded too many times")]
    TooManyLayers,
    #[error("path could change the upstream host")]
    HostChange,
    #[error("path or query is too long")]
    TooLong,
    #[error("path or query has a character that is not allowed in a URL")]
    InvalidChar,
}

impl PathError {
    /// Stable code for the error body.
    pub fn code(self) -> &'static str {
        match self {
            PathError::DotSegment => "unsafe_path_dot_segment",
            PathError::EmptySegment => "unsafe_path_empty_segment",
            PathError::Backslash => "unsafe_path_backslash",
            PathError::ControlChar => "unsafe_path_control_char",
            PathError::BadEncoding => "unsafe_path_bad_encoding",
            PathError::TooManyLayers => "unsafe_path_encoding_layers",
            PathError::HostChange => "unsafe_path_host_change",
            PathError::TooLong => "unsafe_path_too_long",
            PathError::InvalidChar => "unsafe_path_invalid_char",
        }
    }
}

/// Characters allowed to appear literally in a path or query as sent (RFC 3986 pchar + '/' +
/// '?' for queries, and '%' for encodings).
fn is_uri_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%?".contains(&b)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One layer of percent-decoding. `strict`: a '%' not followed by two hex digits is an error
/// (the layer as sent); otherwise it is a literal '%'. `None` when nothing was encoded.
fn decode_layer(s: &[u8], strict: bool) -> Result<Option<Vec<u8>>, PathError> {
    if !s.contains(&b'%') {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut changed = false;
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            match (
                s.get(i + 1).copied().and_then(hex_val),
                s.get(i + 2).copied().and_then(hex_val),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    changed = true;
                    i += 3;
                    continue;
                }
                _ if strict => return Err(PathError::BadEncoding),
                _ => {}
            }
        }
        out.push(s[i]);
        i += 1;
    }
    Ok(changed.then_some(out))
}

fn check_layer(s: &[u8]) -> Result<(), PathError> {
    if s.contains(&b'\\') {
        return Err(PathError::Backslash);
    }
    if s.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(PathError::ControlChar);
    }
    if std::str::from_utf8(s).is_err() {
        // Rejects overlong UTF-8 (`%C0%AE`), surrogates and stray bytes.
        return Err(PathError::BadEncoding);
    }
    let Some(rest) = s.strip_prefix(b"/") else {
        return Err(PathError::HostChange);
    };
    let segments: Vec<&[u8]> = rest.split(|&b| b == b'/').collect();
    if let Some(first) = segments.first()
        && (first.contains(&b'@') || first.contains(&b':'))
    {
        return Err(PathError::HostChange);
    }
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate() {
        // Servers that strip path parameters (Tomcat, Jetty, Spring) read `..;x` as `..` and
        // `;x` as an empty segment: judge a segment by its name before any `;`.
        let (name, params) = match seg.iter().position(|&b| b == b';') {
            Some(p) => (&seg[..p], true),
            None => (*seg, false),
        };
        match name {
            b"." | b".." => return Err(PathError::DotSegment),
            b"" if i != last || params => return Err(PathError::EmptySegment),
            _ => {}
        }
    }
    Ok(())
}

/// An overlong UTF-8 encoding of an ASCII character (`%C0%AE` for `.`): never valid UTF-8, and
/// decoders that accept it read it as the ASCII character.
fn has_overlong_ascii(s: &[u8]) -> bool {
    let cont = |b: Option<&u8>| b.is_some_and(|b| (0x80..=0xbf).contains(b));
    s.iter().enumerate().any(|(i, &b)| match b {
        0xc0 | 0xc1 => cont(s.get(i + 1)),
        0xe0 => s.get(i + 1).is_some_and(|b| (0x80..=0x9f).contains(b)) && cont(s.get(i + 2)),
        0xf0 => s.get(i + 1).is_some_and(|b| (0x80..=0x8f).contains(b)) && cont(s.get(i + 2)),
        _ => false,
    })
}

/// Checks the path as the agent sent it (still percent-encoded; `""` means `/`).
pub fn check_path(raw: &str) -> Result<(), PathError> {
    let raw = if raw.is_empty() { "/" } else { raw };
    if raw.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    let bytes = raw.as_bytes();
    if bytes.contains(&b'\\') {
        return Err(PathError::Backslash);
    }
    if bytes.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(PathError::ControlChar);
    }
    if !bytes.iter().all(|&b| is_uri_char(b) && b != b'?') {
        return Err(PathError::InvalidChar);
    }
    let mut layer = bytes.to_vec();
    check_layer(&layer)?;
    for depth in 0..=MAX_DECODE_LAYERS {
        match decode_layer(&layer, depth == 0)? {
            None => return Ok(()),
            Some(_) if depth == MAX_DECODE_LAYERS => return Err(PathError::TooManyLayers),
            Some(next) => {
                check_layer(&next)?;
                layer = next;
            }
        }
    }
    Ok(())
}

/// Checks a raw query string (without the '?').
pub fn check_query(raw: &str) -> Result<(), PathError> {
    if raw.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    let bytes = raw.as_bytes();
    if bytes.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(PathError::ControlChar);
    }
    if !bytes.iter().all(|&b| is_uri_char(b)) {
        return Err(PathError::InvalidChar);
    }
    let mut layer = bytes.to_vec();
    for depth in 0..=MAX_DECODE_LAYERS {
        match decode_layer(&layer, depth == 0)? {
            None => return Ok(()),
            Some(next) => {
                // Other bytes that are not UTF-8 stay allowed (Latin-1 and binary parameters).
                if next.iter().any(|&b| b < 0x20 || b == 0x7f) {
                    return Err(PathError::ControlChar);
                }
                if has_overlong_ascii(&next) {
                    return Err(PathError::BadEncoding);
                }
                layer = next;
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseUrlError {
    #[error("base URL is not a valid absolute URL")]
    Parse,
    #[error("base URL must use http or https")]
    Scheme,
    #[error("base URL must have a host and no user info, query or fragment")]
    Shape,
}

/// Validates a target's base URL as an admin enters it; returns it normalized (no trailing '/').
pub fn validate_base_url(s: &str) -> Result<String, BaseUrlError> {
    let url = Url::parse(s.trim()).map_err(|_| BaseUrlError::Parse)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(BaseUrlError::Scheme);
    }
    if url.host_str().is_none_or(str::is_empty)
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(BaseUrlError::Shape);
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Builds the upstream URL: base + path as sent + query, with `extra_query` (a credential)
/// appended after removing any same-named parameter the agent sent. Fails unless the result
/// has exactly the base's scheme, host and port.
pub fn build_upstream_url(
    base: &str,
    raw_path: &str,
    raw_query: Option<&str>,
    extra_query: Option<(&str, &str)>,
) -> Result<Url, PathError> {
    check_path(raw_path)?;
    let base_url = Url::parse(base).map_err(|_| PathError::HostChange)?;
    let path = if raw_path.is_empty() { "/" } else { raw_path };
    let mut s = format!("{}{}", base.trim_end_matches('/'), path);
    let mut pieces: Vec<String> = Vec::new();
    if let Some(q) = raw_query.filter(|q| !q.is_empty()) {
        check_query(q)?;
        for piece in q.split('&') {
            let key = piece.split('=').next().unwrap_or_default();
            let decoded: String = url::form_urlencoded::parse(key.as_bytes())
                .next()
                .map(|(k, _)| k.into_owned())
                .unwrap_or_default();
            if extra_query.is_some_and(|(p, _)| p == decoded) {
                continue;
            }
            pieces.push(piece.to_string());
        }
    }
    if let Some((p, v)) = extra_query {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        ser.append_pair(p, v);
        pieces.push(ser.finish());
    }
    if !pieces.is_empty() {
        s.push('?');
        s.push_str(&pieces.join("&"));
    }
    let url = Url::parse(&s).map_err(|_| PathError::InvalidChar)?;
    if url.scheme() != base_url.scheme()
        || url.host() != base_url.host()
        || url.port_or_known_default() != base_url.port_or_known_default()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(PathError::HostChange);
    }
    Ok(url)
}

#[cfg(test)]
mod tests;
