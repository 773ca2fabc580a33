//! Host templates, added origins and URL matching (`connhost_policy::origin`).
//!
//! Input, as lines: a host template; the value of field `domain`; an origin
//! to add; then URLs to match against the resulting allowlist.

#![no_main]

use connhost_policy::{Allowlist, Origin};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use url::Url;

/// A parsed origin is a bare https origin that reads back as itself.
fn check_origin(o: &Origin) {
    assert_eq!(o.scheme, "https", "{o:?}");
    assert!(!o.host.is_empty(), "{o:?}");
    assert_eq!(o.host, o.host.to_ascii_lowercase(), "{o:?}");
    assert_eq!(Origin::parse_bare(&o.to_string()).as_ref(), Ok(o), "{o}");
}

fn check_list(list: &Allowlist) {
    for o in list.origins() {
        check_origin(o);
        // Any path on an allowed origin is allowed.
        let url = Url::parse(&format!("{o}/any/path?q=1")).expect("origin URL");
        assert!(list.allows(&url), "{o} does not allow {url}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let template = lines.next().unwrap_or_default();
    let domain = lines.next().unwrap_or_default();
    let added = lines.next().unwrap_or_default();
    let urls: Vec<&str> = lines.collect();

    let fields = BTreeMap::from([
        ("domain".to_string(), domain.to_string()),
        ("region".to_string(), "eu-1".to_string()),
    ]);

    // A bare origin parses to itself, and only https ones parse.
    if let Ok(o) = Origin::parse_bare(added) {
        check_origin(&o);
    }

    // The field value cannot change the scheme or port, nor add user info,
    // a path or a second host: only host-name characters get through.
    if let Ok(list) = Allowlist::from_templates(&["https://{domain}".into()], &fields) {
        check_list(&list);
        let [o] = list.origins() else {
            panic!("one template, {} origins", list.origins().len())
        };
        assert_eq!(o.port, 443, "{domain:?} changed the port: {o}");
        assert!(
            o.host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'),
            "{domain:?} gave host {:?}",
            o.host
        );
    }

    // Arbitrary templates, then an added origin.
    let mut list = match Allowlist::from_templates(&[template.to_string()], &fields) {
        Ok(list) => {
            check_list(&list);
            if !template.contains('{') {
                // No fields: the template is a bare origin.
                assert_eq!(list.origins(), [Origin::parse_bare(template).unwrap()]);
            }
            list
        }
        Err(_) => Allowlist::default(),
    };
    let before = list.origins().len();
    match list.add_origins(&[added.to_string()]) {
        Ok(()) => assert!(list.origins().len() <= before + 1),
        Err(_) => assert_eq!(list.origins().len(), before),
    }
    check_list(&list);

    // A URL is allowed only if it is https on exactly an allowed origin.
    let empty = Allowlist::default();
    for raw in urls {
        let Ok(url) = Url::parse(raw) else {
            continue;
        };
        assert!(!empty.allows(&url), "empty allowlist allows {url}");
        if list.allows(&url) {
            assert_eq!(url.scheme(), "https", "{url}");
            let host = url.host_str().expect("allowed URL has a host");
            let port = url.port_or_known_default().expect("allowed URL has a port");
            assert!(
                list.origins()
                    .iter()
                    .any(|o| o.host == host.to_ascii_lowercase() && o.port == port),
                "{url} allowed by {:?}",
                list.origins()
            );
        }
    }
});
