//! Templates -> text. Every human-readable output (CLI and MCP) is rendered
//! from the same JSON data with these embedded minijinja templates.

use include_dir::{include_dir, Dir};
use minijinja::Environment;
use serde::Serialize;
use std::sync::LazyLock;

static TEMPLATES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/templates");

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("static syntax config is valid"),
    );
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for f in TEMPLATES.files() {
        if let (Some(name), Some(text)) = (
            f.path().file_stem().and_then(|s| s.to_str()),
            f.contents_utf8(),
        ) {
            // Templates are part of the binary and tested; a broken one is a build defect.
            env.add_template(name, text)
                .expect("embedded template parses");
        }
    }
    env
});

/// Names of the embedded templates.
pub fn names() -> Vec<&'static str> {
    let mut n: Vec<&str> = ENV.templates().map(|(name, _)| name).collect();
    n.sort_unstable();
    n
}

/// Renders a template with serialisable data.
pub fn render<T: Serialize>(template: &str, data: &T) -> Result<String, String> {
    let t = ENV.get_template(template).map_err(|_| {
        format!(
            "no template named `{template}`: the templates are {}",
            names().join(", ")
        )
    })?;
    t.render(minijinja::Value::from(minijinja::value::Serde(data)))
        .map_err(|e| {
            let mut msg = format!("the data does not fit template `{template}`: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            msg
        })
}
