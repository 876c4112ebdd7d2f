//! URL rewriting rules: parsing, precedence, errors.

use source_fetch::{UrlRewrites, URL_REWRITE_ENV};

#[test]
fn longest_prefix_wins_and_cli_beats_env_on_ties() {
    let args = vec![
        "https://github.com/=http://127.0.0.1:1/gh/".to_owned(),
        "https://github.com/QubesOS/=http://127.0.0.1:2/qubes/".to_owned(),
    ];
    let env = "https://github.com/=http://127.0.0.1:9/env/; https://xenbits.xen.org/git-http/=http://127.0.0.1:3/xen/;";
    let r = UrlRewrites::from_args_and_env(&args, Some(env)).unwrap();
    assert_eq!(
        r.apply("https://github.com/QubesOS/qubes-vmm-xen"),
        "http://127.0.0.1:2/qubes/qubes-vmm-xen"
    );
    // Same FROM on CLI and env: the CLI's wins.
    assert_eq!(
        r.apply("https://github.com/other/repo.git"),
        "http://127.0.0.1:1/gh/other/repo.git"
    );
    // Git and HTTP URLs alike; env rules apply where the CLI has none.
    assert_eq!(
        r.apply("https://xenbits.xen.org/git-http/xen.git"),
        "http://127.0.0.1:3/xen/xen.git"
    );
    assert_eq!(
        r.apply("https://downloads.xenproject.org/x.tar.gz"),
        "https://downloads.xenproject.org/x.tar.gz"
    );
    // Applied once: a TO that itself matches a FROM is not rewritten again.
    let mut loop_r = UrlRewrites::new();
    loop_r.push("a://", "a://b/");
    assert_eq!(loop_r.apply("a://x"), "a://b/x");
}

#[test]
fn bad_pairs_are_named() {
    let e = UrlRewrites::from_args_and_env(&["no-equals-sign".into()], None).unwrap_err();
    assert!(
        e.to_string().contains("`no-equals-sign`") && e.to_string().contains("--url-rewrite"),
        "{e}"
    );
    let e = UrlRewrites::from_args_and_env(&[], Some("a=b;=http://x/")).unwrap_err();
    assert!(
        e.to_string().contains("`=http://x/`") && e.to_string().contains(URL_REWRITE_ENV),
        "{e}"
    );
    let e = UrlRewrites::from_args_and_env(&["https://x/=".into()], None).unwrap_err();
    assert!(e.to_string().contains("TO is empty"), "{e}");
}

#[test]
fn equals_in_target_is_kept() {
    let r = UrlRewrites::from_args_and_env(&["https://a/=http://b/?x=1&p=".into()], None).unwrap();
    assert_eq!(r.apply("https://a/f"), "http://b/?x=1&p=f");
}
