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
    /// How the tool wraps the file when `--assume-in-transaction` says it
    /// wraps each one.
    pub tool_wrap: ToolWrap,
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
            tool_wrap: ToolWrap::EveryFile,
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
                tool_wrap: ToolWrap::EveryFile,
            }
        }
        None => UpSection {
            text: source,
            line_offset: 0,
            in_transaction: false,
            skip_file: false,
            tool_wrap: ToolWrap::of(source, file),
        },
    }
}

/// How the migration tool that runs a file wraps it in a transaction, for
/// `--assume-in-transaction` (which says the tool wraps each file): read
/// from the file's name and first line, since the tools differ on files
/// that cannot run in a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ToolWrap {
    /// Every file, one statement or many: Rails, Django, Alembic, dbmate
    /// (without `transaction:false`, read from the file), sqlx and Diesel
    /// by default; any file the name does not tell apart.
    #[default]
    EveryFile,
    /// Flyway (`V<version>__<name>.sql`, `R__<name>.sql`) on PostgreSQL looks
    /// at each statement and runs a migration holding one it knows cannot
    /// run in a transaction outside any: `CREATE|DROP DATABASE|TABLESPACE|
    /// SUBSCRIPTION`, `ALTER SYSTEM`, `CREATE|DROP [UNIQUE] INDEX
    /// CONCURRENTLY`, `REINDEX [VERBOSE] SCHEMA|DATABASE|SYSTEM`, `VACUUM`,
    /// `DISCARD ALL`, and `ALTER TYPE ... ADD VALUE` before PostgreSQL 12. A
    /// migration mixing those with other statements it refuses ("Detected
    /// both transactional and non-transactional statements") unless `mixed`
    /// is set, so only a file of those statements alone is unwrapped;
    /// `REINDEX ... CONCURRENTLY` of an index or table is not on its list.
    FlywayDetects,
    /// Prisma (`migration.sql`) opens no transaction: it sends the file as
    /// one query string, which PostgreSQL runs in one implicit transaction
    /// only when it holds several statements.
    SeveralStatements,
    /// sqlx runs a file whose first line is `-- no-transaction` outside one.
    Never,
}

impl ToolWrap {
    /// The wrapping of a file, from its name and text.
    pub fn of(source: &str, file: Option<&str>) -> ToolWrap {
        if source.starts_with("-- no-transaction") {
            return ToolWrap::Never;
        }
        let name = file
            .map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f))
            .unwrap_or("");
        let flyway_versioned = name.strip_prefix('V').is_some_and(|rest| {
            rest.split_once("__").is_some_and(|(v, _)| {
                !v.is_empty()
                    && v.chars()
                        .all(|c| c.is_ascii_digit() || c == '.' || c == '_')
            })
        });
        if name.ends_with(".sql") && (flyway_versioned || name.starts_with("R__")) {
            ToolWrap::FlywayDetects
        } else if name == "migration.sql" {
            ToolWrap::SeveralStatements
        } else {
            ToolWrap::EveryFile
        }
    }

    /// Whether the tool wraps a file whose statements start with these
    /// words ([`super::context::leading_words`], joined by spaces).
    pub fn wraps<'a>(
        self,
        statement_words: impl IntoIterator<Item = &'a str>,
        pg_version: u32,
    ) -> bool {
        match self {
            ToolWrap::EveryFile => true,
            ToolWrap::Never => false,
            ToolWrap::SeveralStatements => statement_words.into_iter().nth(1).is_some(),
            ToolWrap::FlywayDetects => {
                let mut any = false;
                for words in statement_words {
                    any = true;
                    if !flyway_runs_outside_transaction(words, pg_version) {
                        return true;
                    }
                }
                !any
            }
        }
    }
}

/// Whether Flyway's PostgreSQL parser marks a statement as one that cannot
/// run in a transaction (its `detectCanExecuteInTransaction`).
fn flyway_runs_outside_transaction(words: &str, pg_version: u32) -> bool {
    let w: Vec<&str> = words.split(' ').filter(|w| !w.is_empty()).collect();
    let at = |i: usize| w.get(i).copied().unwrap_or("");
    match (at(0), at(1)) {
        ("CREATE" | "DROP", "DATABASE" | "TABLESPACE" | "SUBSCRIPTION") => true,
        ("ALTER", "SYSTEM") => true,
        ("CREATE" | "DROP", "INDEX") => at(2) == "CONCURRENTLY",
        ("CREATE" | "DROP", "UNIQUE") => at(2) == "INDEX" && at(3) == "CONCURRENTLY",
        ("REINDEX", kind) => {
            let kind = if kind == "VERBOSE" { at(2) } else { kind };
            matches!(kind, "SCHEMA" | "DATABASE" | "SYSTEM")
        }
        ("VACUUM", _) => true,
        ("DISCARD", "ALL") => true,
        ("ALTER", "TYPE") => pg_version < 12 && w.windows(2).any(|p| p == ["ADD", "VALUE"]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tool_wraps_files_its_own_way() {
        let flyway = ToolWrap::of("", Some("db/migration/V12__drop_idx.sql"));
        assert_eq!(flyway, ToolWrap::FlywayDetects);
        assert_eq!(
            ToolWrap::of("", Some("R__views.sql")),
            ToolWrap::FlywayDetects
        );
        assert_eq!(
            ToolWrap::of("", Some("V1_2__x.sql")),
            ToolWrap::FlywayDetects
        );
        assert_eq!(
            ToolWrap::of("", Some("prisma/migrations/20240101_x/migration.sql")),
            ToolWrap::SeveralStatements
        );
        assert_eq!(
            ToolWrap::of("-- no-transaction\nSELECT 1;", Some("20240101_x.sql")),
            ToolWrap::Never
        );
        for other in [
            Some("20240101_x.sql"),
            Some("Vacuum.sql"),
            Some("0042_x.up.sql"),
            None,
        ] {
            assert_eq!(
                ToolWrap::of("SELECT 1;", other),
                ToolWrap::EveryFile,
                "{other:?}"
            );
        }

        let wraps = |w: ToolWrap, words: &[&str], v| w.wraps(words.iter().copied(), v);
        for alone in [
            "DROP INDEX CONCURRENTLY IF EXISTS I",
            "CREATE UNIQUE INDEX CONCURRENTLY I ON T ( A )",
            "VACUUM ( ANALYZE ) T",
            "REINDEX SCHEMA APP",
            "CREATE DATABASE SHOP",
        ] {
            assert!(!wraps(flyway, &[alone], 15), "{alone}");
            assert!(wraps(ToolWrap::EveryFile, &[alone], 15), "{alone}");
            assert!(!wraps(ToolWrap::SeveralStatements, &[alone], 15), "{alone}");
        }
        let two = [
            "CREATE INDEX CONCURRENTLY A ON T ( A )",
            "DROP INDEX CONCURRENTLY B",
        ];
        assert!(!wraps(flyway, &two, 15));
        assert!(wraps(ToolWrap::SeveralStatements, &two, 15));
        // Not on Flyway's list: wrapped, and PostgreSQL refuses it there.
        assert!(wraps(flyway, &["REINDEX INDEX CONCURRENTLY I"], 15));
        assert!(wraps(flyway, &["REINDEX TABLE CONCURRENTLY T"], 15));
        // Mixed with a transactional statement: Flyway refuses the file.
        assert!(wraps(
            flyway,
            &["SET LOCK_TIMEOUT = '2s'", "DROP INDEX CONCURRENTLY I"],
            15
        ));
        assert!(!wraps(flyway, &["ALTER TYPE MOOD ADD VALUE 'X'"], 11));
        assert!(wraps(flyway, &["ALTER TYPE MOOD ADD VALUE 'X'"], 12));
        assert!(!wraps(ToolWrap::Never, &two, 15));
    }
}
