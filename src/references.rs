//! The reference library: Markdown documents embedded in the binary and
//! served as MCP resources (`schemashift://references/<name>`).

use include_dir::{include_dir, Dir};

static REFERENCES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/references");

/// URI scheme and prefix of every reference resource.
pub const URI_PREFIX: &str = "schemashift://references/";
/// The resource template clients can fill in.
pub const URI_TEMPLATE: &str = "schemashift://references/{name}";

/// One embedded document.
#[derive(Debug, Clone, Copy)]
pub struct Reference {
    /// File stem, e.g. `migration-failure-modes`.
    pub name: &'static str,
    /// The document's first `# ` heading.
    pub title: &'static str,
    pub text: &'static str,
}

impl Reference {
    pub fn uri(&self) -> String {
        uri(self.name)
    }

    /// The first paragraph after the title, for listings.
    pub fn description(&self) -> String {
        self.text
            .lines()
            .skip_while(|l| !l.starts_with("# "))
            .skip(1)
            .skip_while(|l| l.trim().is_empty())
            .take_while(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub fn uri(name: &str) -> String {
    format!("{URI_PREFIX}{name}")
}

/// Every reference, sorted by name.
pub fn all() -> Vec<Reference> {
    let mut refs: Vec<Reference> = REFERENCES
        .files()
        .filter(|f| f.path().extension().is_some_and(|e| e == "md"))
        .filter_map(|f| {
            let name = f.path().file_stem()?.to_str()?;
            let text = f.contents_utf8()?;
            let title = text
                .lines()
                .find_map(|l| l.strip_prefix("# "))
                .unwrap_or(name);
            Some(Reference { name, title, text })
        })
        .collect();
    refs.sort_by_key(|r| r.name);
    refs
}

/// Looks a reference up by name (`migration-failure-modes`, with or without
/// `.md`) or by its full URI.
pub fn get(name_or_uri: &str) -> Option<Reference> {
    let name = name_or_uri.strip_prefix(URI_PREFIX).unwrap_or(name_or_uri);
    let name = name.strip_suffix(".md").unwrap_or(name);
    all().into_iter().find(|r| r.name == name)
}

/// The error for a reference that does not exist, listing those that do.
pub fn not_found(name: &str) -> String {
    let names: Vec<&str> = all().iter().map(|r| r.name).collect();
    format!(
        "no reference named `{name}`: the references are {}",
        names.join(", ")
    )
}
