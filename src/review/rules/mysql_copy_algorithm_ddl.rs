//! # mysql-copy-algorithm-ddl
//!
//! MySQL 8 (InnoDB). Finds `ALTER TABLE` forms on an existing table that
//! MySQL runs with ALGORITHM=COPY: a column type change through `MODIFY` or
//! `CHANGE` (to a numeric, temporal, TEXT/BLOB or JSON type, or to another
//! character set), `ADD FOREIGN KEY` while `foreign_key_checks` is on, `ADD
//! CHECK` (8.0.16+, also inline on an added column), `CONVERT TO CHARACTER SET`, `DROP PRIMARY KEY` without a
//! new one, and an explicit `ALGORITHM=COPY` (a STORED generated column is
//! `add-stored-generated-column`'s).
//! A `MODIFY` to a VARCHAR/CHAR or ENUM/SET type is reported as a note: it is
//! in place when it grows a VARCHAR within the same length-byte bucket or
//! appends ENUM members at the end, a copy otherwise, and the old definition
//! is not in the file. Statements with `ALGORITHM=INSTANT` or `INPLACE` are
//! left alone (MySQL refuses them rather than copy), as are ADD COLUMN, ADD
//! INDEX, DROP INDEX, RENAME COLUMN and SET DEFAULT.
//!
//! **Why it hurts:** COPY builds a new table row by row while writes to the
//! old one are blocked (MDL SHARED NO WRITE): 2.5 s per million rows on a
//! small machine, hours on large tables, and replicas apply it afterwards as
//! one long event.
//!
//! **Instead:** on a large table, run the change with pt-online-schema-change
//! or gh-ost (a shadow table kept in sync, swapped at the end; gh-ost does not
//! handle tables with foreign keys or triggers).
//! Where an in-place form exists, ask for it: `ALGORITHM=INPLACE, LOCK=NONE`
//! makes MySQL fail fast instead of silently copying; a foreign key is added
//! in place with `foreign_key_checks = 0` (after checking the rows yourself).

use super::missing_lock_timeout::{
    alter_table_target, created_in_file, raw_words, starts_with_set,
};
use super::{Rule, MYSQL};
use crate::engine::Lock;
use crate::review::context::{Fact, Settings};
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{
    AlterTableAlgorithm, AlterTableOperation, ColumnOption, DataType, TableConstraint,
};

pub static RULE: Rule = Rule {
    id: "mysql-copy-algorithm-ddl",
    severity: Severity::Error,
    summary:
        "ALTER TABLE that MySQL runs with ALGORITHM=COPY blocks writes while it copies the table",
    source: include_str!("mysql_copy_algorithm_ddl.rs"),
    engines: MYSQL,
    check,
};

/// How a restated column type behaves when the old type is not known.
enum TypeKind {
    /// Never in place: the type changes (or it is restated unchanged, which the
    /// file cannot show).
    Copy,
    /// In place when it grows a VARCHAR within its length-byte bucket.
    Varchar,
    /// Instant when members are appended at the end.
    Enum,
}

fn type_kind(t: &DataType) -> TypeKind {
    let s = t.to_string().to_lowercase();
    if s.starts_with("enum") || s.starts_with("set") {
        TypeKind::Enum
    } else if [
        "varchar",
        "char",
        "character",
        "nvarchar",
        "nchar",
        "varbinary",
        "binary",
    ]
    .iter()
    .any(|p| s.starts_with(p))
    {
        TypeKind::Varchar
    } else {
        TypeKind::Copy
    }
}

/// Whether `SET foreign_key_checks = 0` is in force for this statement.
fn fk_checks_off(ctx: &Ctx, stmt: &Stmt) -> bool {
    let set = ctx.fact::<FkChecksOff>();
    set.0.before(stmt).copied().unwrap_or(false)
}

/// Where the file turns foreign key checks off (or back on).
#[derive(Default)]
pub(crate) struct FkChecksOff(Settings<bool>);

impl Fact for FkChecksOff {
    fn add(&mut self, _: &Ctx, s: &Stmt) {
        if let Some(off) = sets_fk_checks_off(s) {
            self.0.set(off, s);
        }
    }
}

/// Whether a statement turns foreign key checks off for the session (or
/// on), if it sets them.
fn sets_fk_checks_off(s: &Stmt) -> Option<bool> {
    // Lower-casing changes no other letter into "set": most statements need
    // not be copied to find out.
    if !starts_with_set(&s.text) {
        return None;
    }
    let lower = s.text.to_lowercase();
    if !lower.trim_start().starts_with("set") || lower.contains("global") {
        return None;
    }
    let i = lower.find("foreign_key_checks")?;
    let value = lower[i + "foreign_key_checks".len()..]
        .trim_start()
        .trim_start_matches(['=', ' '])
        .trim_start();
    Some(value.starts_with('0') || value.starts_with("off") || value.starts_with("false"))
}

fn tool_fix(table: &str, alter: &str) -> String {
    let alter = alter.replace('"', "\\\"");
    format!(
        "-- on a large table, copy it online (add your connection and database options):\npt-online-schema-change --alter \"{alter}\" t={table} --execute\n-- or, for a table without foreign keys or triggers: gh-ost --table={table} --alter=\"{alter}\" --execute"
    )
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    match &stmt.ast {
        Some(Ast::AlterTable(at)) => alter_table(ctx, stmt, at, out),
        Some(Ast::CreateIndex(ci)) => {
            let copy = ci.alter_options.iter().any(|o| {
                matches!(
                    o,
                    AlterTableOperation::Algorithm {
                        algorithm: AlterTableAlgorithm::Copy,
                        ..
                    }
                )
            });
            if copy && !stmt.is_new_table(&ci.table_name) {
                let table = ci.table_name.to_string();
                out.push(
                    RULE.finding(
                        stmt,
                        format!("CREATE INDEX on {table} with ALGORITHM=COPY copies {table} while writes to it are blocked"),
                    )
                    .on_table(table, Lock::MdlSharedNoWrite)
                    .with_fix("-- an index is built in place, with reads and writes going on:\nALGORITHM=INPLACE, LOCK=NONE"),
                );
            }
        }
        None => {
            // ALTER TABLE t CONVERT TO CHARACTER SET ...: not parsed by sqlparser 0.63.
            let raw = raw_words(&stmt.text, 16);
            let up: Vec<String> = raw.iter().map(|w| w.to_uppercase()).collect();
            let Some((table, next)) = alter_table_target(&up, &raw) else {
                return;
            };
            if up.get(next).map(String::as_str) != Some("CONVERT")
                || created_in_file(ctx, stmt, &table)
            {
                return;
            }
            let alter = stmt.text[stmt.text.to_uppercase().find("CONVERT").unwrap_or(0)..].trim();
            out.push(
                RULE.finding(
                    stmt,
                    format!("CONVERT TO CHARACTER SET rewrites every text column of {table} with ALGORITHM=COPY: writes to {table} are blocked for the whole copy"),
                )
                .on_table(table.clone(), Lock::MdlSharedNoWrite)
                .with_fix(tool_fix(&table, alter)),
            );
        }
        _ => {}
    }
}

fn alter_table(ctx: &Ctx, stmt: &Stmt, at: &sqlparser::ast::AlterTable, out: &mut Vec<Finding>) {
    if stmt.alters_new_table(at) {
        return;
    }
    let table = at.name.to_string();
    let algorithm = at.operations.iter().find_map(|op| match op {
        AlterTableOperation::Algorithm { algorithm, .. } => Some(*algorithm),
        _ => None,
    });
    if matches!(
        algorithm,
        Some(AlterTableAlgorithm::Instant | AlterTableAlgorithm::Inplace)
    ) {
        return;
    }
    let adds_pk = at.operations.iter().any(|op| {
        matches!(
            op,
            AlterTableOperation::AddConstraint {
                constraint: TableConstraint::PrimaryKey(_),
                ..
            }
        )
    });
    let mut copies = Vec::new();
    let mut maybe = Vec::new();
    let mut fk_fix = None;
    if algorithm == Some(AlterTableAlgorithm::Copy) {
        copies.push("ALGORITHM=COPY is asked for".to_string());
    }
    for op in &at.operations {
        let restated = match op {
            AlterTableOperation::ModifyColumn {
                col_name,
                data_type,
                options,
                ..
            } => Some((col_name, data_type, options)),
            AlterTableOperation::ChangeColumn {
                old_name,
                new_name,
                data_type,
                options,
                ..
            } if old_name.value.eq_ignore_ascii_case(&new_name.value) => {
                Some((old_name, data_type, options))
            }
            _ => None,
        };
        if let Some((col, data_type, options)) = restated {
            let charset = options.iter().any(|o| {
                matches!(
                    o,
                    ColumnOption::CharacterSet(_) | ColumnOption::Collation(_)
                )
            });
            if charset {
                copies.push(format!("{col} is given another character set or collation"));
                continue;
            }
            match type_kind(data_type) {
                TypeKind::Copy => copies.push(format!("{col} is changed to {data_type}")),
                TypeKind::Varchar => maybe.push(format!(
                    "{col} restated as {data_type} is in place only when it grows a VARCHAR within the same length-byte bucket (one length byte up to 255 bytes, that is 63 utf8mb4 characters; two above); any other change copies the table"
                )),
                TypeKind::Enum => maybe.push(format!(
                    "{col} restated as {data_type} is instant only when members are appended at the end; inserting, reordering or removing members copies the table"
                )),
            }
            continue;
        }
        match op {
            AlterTableOperation::AddConstraint {
                constraint: TableConstraint::ForeignKey(fk),
                ..
            } if !fk_checks_off(ctx, stmt) => {
                copies.push("ADD FOREIGN KEY with foreign_key_checks on".to_string());
                let cols: Vec<String> = fk.columns.iter().map(|c| c.to_string()).collect();
                let refs: Vec<String> = fk.referred_columns.iter().map(|c| c.to_string()).collect();
                let orphans = match (cols.as_slice(), refs.as_slice()) {
                    ([c], [r]) => format!(
                        "-- first check no row points nowhere (it must return 0):\nSELECT count(*) FROM {table} t LEFT JOIN {} p ON p.{r} = t.{c} WHERE t.{c} IS NOT NULL AND p.{r} IS NULL;\n",
                        fk.foreign_table
                    ),
                    _ => String::new(),
                };
                fk_fix = Some(format!(
                    "{orphans}-- in place, existing rows not re-checked:\nSET SESSION foreign_key_checks = 0;\nALTER TABLE {table} ADD {op_body}, ALGORITHM=INPLACE, LOCK=NONE;\nSET SESSION foreign_key_checks = 1;",
                    op_body = op.to_string().trim_start_matches("ADD ").trim()
                ));
            }
            AlterTableOperation::AddConstraint {
                constraint: TableConstraint::Check(_),
                ..
            } => copies.push(
                "ADD CHECK verifies every row by copying the table (MySQL 8.0.16+)".to_string(),
            ),
            AlterTableOperation::AddColumn { column_def, .. }
                if column_def
                    .options
                    .iter()
                    .any(|o| matches!(o.option, ColumnOption::Check(_))) =>
            {
                copies.push(format!(
                    "column {} is added with a CHECK, which verifies every row by copying the table",
                    column_def.name
                ))
            }
            AlterTableOperation::DropPrimaryKey { .. } if !adds_pk => {
                copies.push("DROP PRIMARY KEY without adding another".to_string())
            }
            _ => {}
        }
    }
    let alter: Vec<String> = at
        .operations
        .iter()
        .filter(|op| {
            !matches!(
                op,
                AlterTableOperation::Algorithm { .. } | AlterTableOperation::Lock { .. }
            )
        })
        .map(|op| op.to_string())
        .collect();
    let alter = alter.join(", ");
    if !copies.is_empty() {
        // gh-ost cannot work on a table with foreign keys: the in-place form
        // or pt-online-schema-change only.
        let fix = match (fk_fix, copies.len()) {
            (Some(fk), 1) => format!(
                "{fk}\n-- or copy it online (add your connection and database options):\npt-online-schema-change --alter \"{}\" t={table} --alter-foreign-keys-method=auto --execute",
                alter.replace('"', "\\\"")
            ),
            _ => tool_fix(&table, &alter),
        };
        out.push(
            RULE.finding(
                stmt,
                format!(
                    "ALTER TABLE {table} runs with ALGORITHM=COPY ({}): {table} is copied row by row while writes to it are blocked",
                    copies.join("; ")
                ),
            )
            .on_table(table, Lock::MdlSharedNoWrite)
            .with_fix(fix),
        );
    } else if !maybe.is_empty() {
        out.push(
            RULE.finding(
                stmt,
                format!(
                    "ALTER TABLE {table}: {}; ask for the in-place form so MySQL refuses instead of copying",
                    maybe.join("; ")
                ),
            )
            .severity(Severity::Info)
            .on_table(table.clone(), Lock::MdlBrief)
            .with_fix(format!(
                "ALTER TABLE {table} {alter}, ALGORITHM=INPLACE, LOCK=NONE;\n-- if MySQL refuses it, the change needs a copy:\n{}",
                tool_fix(&table, &alter)
            )),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::context::Engine;
    use crate::review::{review_sql, Finding, ReviewOptions, Severity};

    fn run(sql: &str) -> Vec<Finding> {
        let opts = ReviewOptions {
            engine: Engine::Mysql,
            ..ReviewOptions::default()
        };
        review_sql(sql, None, &opts)
            .into_iter()
            .filter(|f| f.rule == "mysql-copy-algorithm-ddl")
            .collect()
    }

    fn errors(sql: &str) -> usize {
        run(sql)
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    #[test]
    fn flags_copy_forms() {
        for sql in [
            "ALTER TABLE users MODIFY COLUMN score BIGINT NOT NULL;",
            "ALTER TABLE users CHANGE score score BIGINT;",
            "ALTER TABLE `users` MODIFY `bio` TEXT;",
            "ALTER TABLE users MODIFY name VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;",
            "ALTER TABLE orders ADD CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES users (id);",
            "ALTER TABLE orders ADD CONSTRAINT chk CHECK (total >= 0);",
            "ALTER TABLE users CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;",
            "ALTER TABLE users ADD COLUMN c INT, ALGORITHM=COPY;",
            "ALTER TABLE users DROP PRIMARY KEY;",
            "ALTER TABLE orders ADD COLUMN discount INT CHECK (discount >= 0);",
        ] {
            assert_eq!(errors(sql), 1, "{sql}");
        }
        let f = run("ALTER TABLE users MODIFY COLUMN score BIGINT NOT NULL;");
        assert!(
            f[0].message.contains("score is changed to BIGINT"),
            "{}",
            f[0].message
        );
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("gh-ost --table=users --alter=\"MODIFY COLUMN score BIGINT NOT NULL\""),
            "{fix}"
        );
    }

    #[test]
    fn foreign_key_gets_the_in_place_form() {
        let f = run("ALTER TABLE orders ADD CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES users (id);");
        let fix = f[0].fix.as_deref().unwrap();
        assert!(fix.contains("SET SESSION foreign_key_checks = 0;"), "{fix}");
        assert!(fix.contains("ALGORITHM=INPLACE, LOCK=NONE"), "{fix}");
        assert!(
            fix.contains("LEFT JOIN users p ON p.id = t.user_id"),
            "{fix}"
        );
        let sql = "SET foreign_key_checks = 0;\nALTER TABLE orders ADD CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES users (id);\nSET foreign_key_checks = 1;";
        assert_eq!(errors(sql), 0);
    }

    #[test]
    fn varchar_and_enum_restatements_are_notes() {
        for sql in [
            "ALTER TABLE users MODIFY COLUMN email VARCHAR(512) NOT NULL;",
            "ALTER TABLE users MODIFY status ENUM('a','b','c') NOT NULL DEFAULT 'a';",
        ] {
            let f = run(sql);
            assert_eq!(f.len(), 1, "{sql}");
            assert_eq!(f[0].severity, Severity::Info);
        }
    }

    #[test]
    fn silent_on_in_place_and_instant_forms() {
        for sql in [
            "ALTER TABLE users ADD COLUMN c INT;",
            "ALTER TABLE users ADD INDEX idx_email (email);",
            "ALTER TABLE users DROP INDEX idx_email;",
            "ALTER TABLE users RENAME COLUMN a TO b;",
            "ALTER TABLE users ALTER COLUMN a SET DEFAULT 0;",
            "ALTER TABLE users CHANGE COLUMN name full_name VARCHAR(255);",
            "ALTER TABLE users MODIFY COLUMN score BIGINT, ALGORITHM=INPLACE, LOCK=NONE;",
            "ALTER TABLE users DROP PRIMARY KEY, ADD PRIMARY KEY (id, tenant_id);",
            "ALTER TABLE users ADD COLUMN t2 DECIMAL(10,2) GENERATED ALWAYS AS (price * qty) VIRTUAL;",
            "CREATE TABLE t (id BIGINT PRIMARY KEY, s INT);\nALTER TABLE t MODIFY s BIGINT;",
        ] {
            assert!(run(sql).is_empty(), "{sql}");
        }
    }
}
