//! The SQL of migration tools: which part of a file runs on the way up, and
//! whether the tool wraps it in a transaction.

/// The part of a file the review looks at.
pub struct UpSection<'a> {
    /// Borrowed from the source: a copy would be held as long as the review.
    pub text: &'a str,
    /// Lines before `text` in the file, to report real line numbers.
    pub line_offset: usize,
    /// The tool runs this text inside one transaction.
    pub in_transaction: bool,
    /// Nothing to review: a down migration, or `-- schemashift-ignore-file`.
    pub skip_file: bool,
}

/// Picks the up migration out of a file:
/// - `-- schemashift-ignore-file` anywhere: skipped;
/// - golang-migrate `*.down.sql` and Flyway undo `U1__*.sql`: skipped (they run only to roll back);
/// - dbmate `-- migrate:up` ... `-- migrate:down`: the up section, in a
///   transaction unless marked `transaction:false`;
/// - anything else: the whole text.
pub fn up_section<'a>(source: &'a str, file: Option<&str>) -> UpSection<'a> {
    let name = file
        .map(|f| f.rsplit('/').next().unwrap_or(f))
        .unwrap_or("");
    let skip = source
        .lines()
        .any(|l| l.trim().trim_start_matches('-').trim() == "schemashift-ignore-file")
        || name.ends_with(".down.sql")
        || (name.starts_with('U') && name.contains("__") && name.ends_with(".sql"));
    if skip {
        return UpSection {
            text: "",
            line_offset: 0,
            in_transaction: false,
            skip_file: true,
        };
    }
    let mut up_start = None;
    let mut up_end = None;
    let mut transactional = true;
    let mut offset = 0usize;
    for line in source.split_inclusive('\n') {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("-- migrate:up") {
            up_start = Some(offset + line.len());
            transactional = !rest.contains("transaction:false");
        } else if t.starts_with("-- migrate:down") && up_start.is_some() && up_end.is_none() {
            up_end = Some(offset);
        }
        offset += line.len();
    }
    match up_start {
        Some(start) => {
            let end = up_end.unwrap_or(source.len()).max(start);
            UpSection {
                text: &source[start..end],
                line_offset: source[..start].matches('\n').count(),
                in_transaction: transactional,
                skip_file: false,
            }
        }
        None => UpSection {
            text: source,
            line_offset: 0,
            in_transaction: false,
            skip_file: false,
        },
    }
}
