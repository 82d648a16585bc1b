//! Which headers cross the gateway, in each direction. Applied by the gateway and again by the
//! executor (defence in depth): the agent cannot smuggle its own credentials, cookies or
//! Shellgate control headers upstream, and upstream cookies never reach the agent.

/// Hop-by-hop headers (RFC 9110 §7.6.1) plus the legacy proxy ones.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Request headers from the agent that never go upstream. `host` and `content-length` are set by
/// the HTTP client from the URL and body; `accept-encoding` is replaced by `identity` so the
/// executor can scrub credentials from the response body. Method overrides
/// (`X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override`) do go upstream: the guard
/// judges the request by every method they name, and an approval binds them.
const REQUEST_DROP: &[&str] = &[
    "authorization",
    "cookie",
    "host",
    "content-length",
    "expect",
    "forwarded",
    "x-real-ip",
    "accept-encoding",
    // Path overrides some frameworks (IIS URL Rewrite, Symfony, Zend, Drupal) honour over the
    // request line: the guard judged the path the agent sent, so these never go upstream.
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
    "x-override-url",
    "x-http-destinationurl",
    "x-proxy-url",
];

const RESPONSE_DROP: &[&str] = &["set-cookie", "set-cookie2", "content-length"];

fn connection_listed(name: &str, connection_values: &[String]) -> bool {
    connection_values
        .iter()
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(name))
}

fn connection_values<'a>(headers: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    headers
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .map(|(_, v)| v.to_string())
        .collect()
}

/// Whether an agent request header may be forwarded upstream.
pub fn forward_request_header(name: &str, all: &[(String, String)]) -> bool {
    let lower = name.to_ascii_lowercase();
    if HOP_BY_HOP.contains(&lower.as_str())
        || REQUEST_DROP.contains(&lower.as_str())
        || lower.starts_with("x-forwarded-")
        || lower.starts_with("x-shellgate-")
    {
        return false;
    }
    let conn = connection_values(all.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    !connection_listed(&lower, &conn)
}

/// Filters an agent request's headers for the upstream.
pub fn filter_request_headers(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    let keep: Vec<bool> = headers
        .iter()
        .map(|(n, _)| forward_request_header(n, &headers))
        .collect();
    headers
        .into_iter()
        .zip(keep)
        .filter_map(|(h, k)| k.then_some(h))
        .collect()
}

/// Filters an upstream response's headers for the agent.
pub fn filter_response_headers(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    let conn = connection_values(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    headers
        .into_iter()
        .filter(|(n, _)| {
            let lower = n.to_ascii_lowercase();
            !HOP_BY_HOP.contains(&lower.as_str())
                && !RESPONSE_DROP.contains(&lower.as_str())
                && !connection_listed(&lower, &conn)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn request_policy() {
        let out = filter_request_headers(h(&[
            ("Authorization", "Bearer sg_x"),
            ("Cookie", "a=b"),
            ("X-Forwarded-For", "1.2.3.4"),
            ("X-Real-IP", "1.2.3.4"),
            ("X-Shellgate-Approved", "true"),
            ("Connection", "keep-alive, X-Secret-Hop"),
            ("X-Secret-Hop", "1"),
            ("Transfer-Encoding", "chunked"),
            ("Accept", "application/json"),
            ("Content-Type", "text/plain"),
            ("X-Custom", "1"),
            ("X-Original-URL", "/admin/delete"),
            ("X-Rewrite-URL", "/admin/delete"),
            ("x-original-uri", "/admin"),
        ]));
        assert_eq!(
            out,
            h(&[
                ("Accept", "application/json"),
                ("Content-Type", "text/plain"),
                ("X-Custom", "1")
            ])
        );
    }

    #[test]
    fn response_policy() {
        let out = filter_response_headers(h(&[
            ("Set-Cookie", "session=1"),
            ("Content-Type", "text/event-stream"),
            ("Transfer-Encoding", "chunked"),
            ("Location", "/elsewhere"),
        ]));
        assert_eq!(
            out,
            h(&[("Content-Type", "text/event-stream"), ("Location", "/elsewhere")])
        );
    }
}
