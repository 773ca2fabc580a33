//! Ids that name files, teams and providers: one rule, checked in one place,
//! so none can escape a directory or look like another.

/// `[A-Za-z0-9_-]{1,max}`.
pub fn is_safe(id: &str, max: usize) -> bool {
    !id.is_empty()
        && id.len() <= max
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A connector id: `[a-z0-9-]{1,64}`.
pub fn is_connector_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_paths_and_empties() {
        for bad in ["", "../x", "a/b", "a.b", "a b", "é"] {
            assert!(!is_safe(bad, 64), "{bad:?}");
        }
        assert!(is_safe("conn_0a-B", 64));
        assert!(!is_safe(&"a".repeat(65), 64));
    }

    #[test]
    fn connector_ids_are_lower_case() {
        assert!(is_connector_id("celonis-2"));
        assert!(!is_connector_id("Celonis"));
        assert!(!is_connector_id("a_b"));
    }
}
