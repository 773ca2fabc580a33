//! The embedding snippets of the README and `docs/embedding.md` are
//! excerpts of `host/examples/embed.rs`, which `cargo test` compiles: a
//! snippet that drifts from the API fails here instead of misleading a
//! reader.

fn rust_blocks(markdown: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim()) {
            (None, "```rust") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(block), text) if !text.is_empty() => block.push(text.to_string()),
            _ => {}
        }
    }
    blocks
}

#[test]
fn the_embedding_snippets_are_excerpts_of_a_compiled_example() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let example = std::fs::read_to_string(root.join("host/examples/embed.rs")).unwrap();
    let example: Vec<&str> = example.lines().map(str::trim).collect();
    let mut checked = 0;
    for doc in ["README.md", "docs/embedding.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        let blocks = rust_blocks(&text);
        assert!(!blocks.is_empty(), "{doc} has no rust snippet");
        for block in blocks {
            // Imports are the example's own; the calls must be there, in order.
            let mut at = 0;
            for line in block.iter().filter(|l| !l.starts_with("use ")) {
                match example[at..].iter().position(|e| e == line) {
                    Some(i) => at += i + 1,
                    None => {
                        panic!("{doc}: `{line}` is not in host/examples/embed.rs (in this order)")
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 6, "only {checked} snippet lines checked");
}
