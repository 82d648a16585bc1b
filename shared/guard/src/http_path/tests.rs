use super::*;

#[test]
fn safe_paths_pass() {
    for p in [
        "",
        "/",
        "/v1/models",
        "/v1/models/",
        "/repos/o/r/contents/a%20b.txt",
        "/projects/group%2Fproject/issues",
        "/users/@me",
        "/v1beta/models/gemini:generateContent",
        "/search/100%25",
        "/a-b_c.d~e/f!$&'()*+,;=",
        "/files/..foo",
        "/files/foo..",
        "/a;jsessionid=x/b",
        "/a;x=1;y=2",
        "/files/..foo;v=1",
        "/a/b;",
    ] {
        assert_eq!(check_path(p), Ok(()), "{p}");
    }
}

#[test]
fn unsafe_paths_are_refused_with_their_class() {
    use PathError::*;
    let cases: &[(&str, PathError)] = &[
        ("/../etc/passwd", DotSegment),
        ("/a/..", DotSegment),
        ("/a/./b", DotSegment),
        ("/%2e%2e/secret", DotSegment),
        ("/%2E%2E/secret", DotSegment),
        ("/%252e%252e/secret", DotSegment),
        ("/%25252e%25252e/x", DotSegment),
        ("/a/%2e%2e%2fb", DotSegment),
        ("/a%2f..%2fb", DotSegment),
        ("/a/%2F/b", EmptySegment),
        ("/a/%2Fb", EmptySegment),
        ("/a//b", EmptySegment),
        ("//evil.example.com/x", EmptySegment),
        ("/%2F%2Fevil.example.com", EmptySegment),
        ("/a\\b", Backslash),
        ("/a%5cb", Backslash),
        ("/a%255C..%255Cb", Backslash),
        ("/x/a%0d%0aX-Injected:%201", ControlChar),
        ("/a%00b", ControlChar),
        ("/a%250a", ControlChar),
        ("/a%zz", BadEncoding),
        ("/a%2", BadEncoding),
        ("/%c0%ae%c0%ae/x", BadEncoding),
        ("/%e0%80%ae", BadEncoding),
        ("/%ff", BadEncoding),
        ("/@evil.example.com", HostChange),
        ("/user@evil.example.com/x", HostChange),
        ("/http:/evil", HostChange),
        ("/%40evil.example.com", HostChange),
        ("/https%3A%2F%2Fevil", HostChange),
        ("/a b", InvalidChar),
        ("/a<b>", InvalidChar),
        ("/a?b", InvalidChar),
        ("/é", InvalidChar),
        ("/%2525252525252e", TooManyLayers),
        // Path parameters hide dot segments from us but not from Tomcat, Jetty or Spring.
        ("/..;/admin", DotSegment),
        ("/a/..;x/b", DotSegment),
        ("/a/.;x/b", DotSegment),
        ("/a/..%3b/b", DotSegment),
        ("/a/..%3Bx", DotSegment),
        ("/a/%2e%2e%3b/b", DotSegment),
        ("/a/..%253b/b", DotSegment),
        ("/a/;x/b", EmptySegment),
    ];
    for (p, want) in cases {
        assert_eq!(check_path(p), Err(*want), "{p}");
    }
    assert_eq!(check_path(&format!("/{}", "a".repeat(MAX_PATH_LEN))), Err(TooLong));
}

#[test]
fn queries() {
    assert_eq!(check_query("a=1&b=x%20y"), Ok(()));
    assert_eq!(check_query("q=100%"), Err(PathError::BadEncoding));
    assert_eq!(check_query("q=%0d%0a"), Err(PathError::ControlChar));
    assert_eq!(check_query("q=a b"), Err(PathError::InvalidChar));
    for c in (0x01..0x20).chain([0x7f]) {
        assert_eq!(
            check_query(&format!("q=%{c:02x}")),
            Err(PathError::ControlChar),
            "{c:#x}"
        );
        assert_eq!(
            check_query(&format!("q=%25{c:02X}")),
            Err(PathError::ControlChar),
            "{c:#x}"
        );
    }
    for overlong in ["q=%c0%ae", "q=%C1%81", "q=%e0%80%ae", "q=%f0%80%80%ae", "q=%25c0%25ae"] {
        assert_eq!(check_query(overlong), Err(PathError::BadEncoding), "{overlong}");
    }
    // Latin-1 and binary parameters are legitimate.
    for ok in ["name=Andr%E9", "bin=%ff%fe%80x", "q=%c3%a9", "q=%e9t%e9"] {
        assert_eq!(check_query(ok), Ok(()), "{ok}");
    }
}

#[test]
fn upstream_url_keeps_the_target_origin() {
    let u = build_upstream_url("https://api.example.com/v1", "/models", Some("a=1"), None).unwrap();
    assert_eq!(u.as_str(), "https://api.example.com/v1/models?a=1");
    let u = build_upstream_url("http://127.0.0.1:9000/", "", None, None).unwrap();
    assert_eq!(u.as_str(), "http://127.0.0.1:9000/");
    let u = build_upstream_url("http://h:1", "/p%2Fq", Some("key=agent&x=1"), Some(("key", "s e"))).unwrap();
    assert_eq!(u.as_str(), "http://h:1/p%2Fq?x=1&key=s+e");
    assert!(build_upstream_url("http://h:1", "//evil/x", None, None).is_err());
    assert!(build_upstream_url("http://h:1", "/@evil", None, None).is_err());
}

#[test]
fn base_urls() {
    assert_eq!(
        validate_base_url("https://api.example.com/v1/").unwrap(),
        "https://api.example.com/v1"
    );
    assert_eq!(validate_base_url("ftp://x"), Err(BaseUrlError::Scheme));
    assert_eq!(validate_base_url("https://u:p@x"), Err(BaseUrlError::Shape));
    assert_eq!(validate_base_url("https://x/?a=1"), Err(BaseUrlError::Shape));
    assert_eq!(validate_base_url("nope"), Err(BaseUrlError::Parse));
}
