//! Compressed upstream responses, decoded so the scrubber sees what the agent will read.
//!
//! The executor asks upstreams for `Accept-Encoding: identity`, but a hostile or careless one may
//! answer `Content-Encoding: gzip` anyway. Scrubbing the compressed bytes would miss a credential
//! the agent then decompresses, so a response from a target with a credential is decoded as a
//! stream (gzip, deflate, br, zstd; stacked codings in reverse order of application) and
//! forwarded decoded: `Content-Encoding` and `Content-Length` are dropped, a strong `ETag` is
//! weakened. Memory stays bounded (a chunk at a time); the decoded size is capped, and a body
//! that expands more than [`MAX_RATIO`] times is stopped early as a decompression bomb.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;

use async_compression::tokio::bufread::{BrotliDecoder, GzipDecoder, ZlibDecoder, ZstdDecoder};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use shellgate_shared::bus::messages::StreamFailure;
use shellgate_shared::error::Code;
use tokio::io::{AsyncBufRead, AsyncRead, BufReader};
use tokio_util::io::{ReaderStream, StreamReader};

/// A decoded body may expand at most this many times its encoded size, once it is past
/// [`RATIO_GRACE_BYTES`] (gzip and deflate cannot exceed about 1032:1; brotli and zstd can, and
/// a bomb is stopped at a few MiB instead of at the size limit).
pub const MAX_RATIO: u64 = 1000;
/// Decoded bytes allowed before the ratio is checked (tiny bodies compress extremely well).
pub const RATIO_GRACE_BYTES: u64 = 8 * 1024 * 1024;

/// A content coding the executor can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    /// HTTP's `deflate`: the zlib format (RFC 9110 §8.4.1.2).
    Deflate,
    Brotli,
    Zstd,
}

/// What to do with a response body.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// Not encoded, or with no body: forward as it is.
    AsIs,
    /// Decode these codings, in the order they were applied.
    Decode(Vec<Coding>),
}

fn refuse(message: &str) -> StreamFailure {
    StreamFailure::new(Code::UpstreamEncodingUnsupported, message)
}

/// Reads the response's `Content-Encoding` headers (every one, comma-separated lists, any case).
pub fn plan(method: &str, status: u16, headers: &[(String, String)]) -> Result<Plan, StreamFailure> {
    let mut codings = Vec::new();
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case("content-encoding") {
            continue;
        }
        for token in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            codings.push(match token.to_ascii_lowercase().as_str() {
                "identity" => continue,
                "gzip" | "x-gzip" => Coding::Gzip,
                "deflate" => Coding::Deflate,
                "br" => Coding::Brotli,
                "zstd" => Coding::Zstd,
                _ => {
                    return Err(refuse(
                        "the upstream answered with a content encoding the executor cannot decode",
                    ));
                }
            });
        }
    }
    // No body to read: nothing the agent could decompress.
    if codings.is_empty() || method.eq_ignore_ascii_case("HEAD") || matches!(status, 100..=199 | 204 | 304) {
        return Ok(Plan::AsIs);
    }
    if status == 206 {
        return Err(refuse(
            "the upstream answered a range of a compressed body, which cannot be decoded to be scrubbed",
        ));
    }
    Ok(Plan::Decode(codings))
}

/// The response headers once the body is forwarded decoded.
pub fn decoded_headers(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    const STALE: &[&str] = &[
        "content-encoding",
        "content-length",
        "content-md5",
        "content-digest",
        "repr-digest",
        "digest",
    ];
    headers
        .into_iter()
        .filter(|(n, _)| !STALE.iter().any(|s| n.eq_ignore_ascii_case(s)))
        .map(|(n, v)| {
            // The bytes differ from the encoded representation the tag was made for.
            if n.eq_ignore_ascii_case("etag") && !v.trim_start().starts_with("W/") {
                (n, format!("W/{}", v.trim()))
            } else {
                (n, v)
            }
        })
        .collect()
}

/// Why a decoded body stopped.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the upstream response body failed")]
    Upstream,
    #[error("the upstream's encoded body is corrupt")]
    Corrupt,
    #[error("the decoded body is larger than allowed")]
    TooLarge,
}

impl DecodeError {
    pub fn failure(&self) -> StreamFailure {
        match self {
            Self::Upstream => StreamFailure::new(Code::UpstreamBodyFailed, "the upstream response body failed"),
            Self::Corrupt => StreamFailure::new(
                Code::UpstreamBodyFailed,
                "the upstream's compressed response body could not be decoded",
            ),
            Self::TooLarge => StreamFailure::new(
                Code::UpstreamResponseTooLarge,
                "the upstream's decoded response is larger than allowed",
            ),
        }
    }
}

/// Marks an error of the upstream's own body stream (as opposed to a decoding error).
#[derive(Debug, thiserror::Error)]
#[error("upstream body failed")]
struct UpstreamFailed;

type Reader = Pin<Box<dyn AsyncBufRead>>;

fn decoder(coding: Coding, inner: Reader) -> Pin<Box<dyn AsyncRead>> {
    match coding {
        Coding::Gzip => {
            let mut d = GzipDecoder::new(inner);
            d.multiple_members(true);
            Box::pin(d)
        }
        Coding::Deflate => Box::pin(ZlibDecoder::new(inner)),
        Coding::Brotli => Box::pin(BrotliDecoder::new(inner)),
        Coding::Zstd => {
            let mut d = ZstdDecoder::new(inner);
            d.multiple_members(true);
            Box::pin(d)
        }
    }
}

/// Decodes `body` (encoded with `codings`, in that order) into chunks of at most `chunk` bytes,
/// stopping with [`DecodeError::TooLarge`] past `max_decoded` bytes or [`MAX_RATIO`].
pub fn decode<S, E>(
    body: S,
    codings: &[Coding],
    chunk: usize,
    max_decoded: u64,
) -> impl Stream<Item = Result<Bytes, DecodeError>> + Unpin + 'static
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + 'static,
{
    let encoded = Rc::new(Cell::new(0u64));
    let counter = encoded.clone();
    let input = body.map(move |r| match r {
        Ok(b) => {
            counter.set(counter.get() + b.len() as u64);
            Ok(b)
        }
        Err(_) => Err(io::Error::other(UpstreamFailed)),
    });
    // Innermost coding last: each layer reads the one applied after it.
    let mut reader: Reader = Box::pin(StreamReader::new(input));
    for c in codings.iter().rev() {
        reader = Box::pin(BufReader::with_capacity(chunk, decoder(*c, reader)));
    }
    let mut decoded = 0u64;
    let mut stopped = false;
    Box::pin(ReaderStream::with_capacity(reader, chunk).filter_map(move |r| {
        let out = if stopped {
            None
        } else {
            Some(match r {
                Ok(b) => {
                    decoded += b.len() as u64;
                    let bomb = decoded > RATIO_GRACE_BYTES && decoded > encoded.get().saturating_mul(MAX_RATIO);
                    if decoded > max_decoded || bomb {
                        stopped = true;
                        Err(DecodeError::TooLarge)
                    } else {
                        Ok(b)
                    }
                }
                Err(e) => {
                    stopped = true;
                    Err(if e.get_ref().is_some_and(|i| i.is::<UpstreamFailed>()) {
                        DecodeError::Upstream
                    } else {
                        DecodeError::Corrupt
                    })
                }
            })
        };
        std::future::ready(out)
    }))
}

#[cfg(test)]
mod tests;
