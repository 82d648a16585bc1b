//! Cross-site request forgery: every state-changing page request must come from our own pages.
//! Browsers say where a request comes from (`Sec-Fetch-Site`, else `Origin`); a signed-in form
//! also carries the session's CSRF token (`csrf` field, or `X-CSRF-Token` for htmx).

use actix_web::HttpRequest;

/// From one of our pages (or not from a browser at all: such a client carries no ambient
/// cookie a forger could borrow, and a signed-in request still needs the CSRF token).
pub fn same_origin(req: &HttpRequest) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    match header("origin") {
        Some(origin) => {
            let info = req.connection_info();
            origin == format!("{}://{}", info.scheme(), info.host())
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::same_origin;

    #[test]
    fn only_our_own_origin_passes() {
        let req = |headers: &[(&str, &str)]| {
            let mut r = TestRequest::post()
                .uri("/logout")
                .insert_header(("host", "sg.example:8081"));
            for h in headers {
                r = r.insert_header(*h);
            }
            r.to_http_request()
        };
        assert!(same_origin(&req(&[])));
        assert!(same_origin(&req(&[("sec-fetch-site", "same-origin")])));
        assert!(same_origin(&req(&[("sec-fetch-site", "none")])));
        assert!(!same_origin(&req(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&req(&[("sec-fetch-site", "same-site")])));
        assert!(same_origin(&req(&[("origin", "http://sg.example:8081")])));
        assert!(!same_origin(&req(&[("origin", "http://evil.example")])));
        assert!(!same_origin(&req(&[("origin", "null")])));
        // Sec-Fetch-Site decides when both are sent.
        assert!(!same_origin(&req(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://sg.example:8081")
        ])));
    }
}
