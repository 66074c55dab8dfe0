//! MySQL 8 InnoDB online DDL: which ALGORITHM each naive DDL form gets and
//! what it blocks. Every algorithm takes a brief exclusive metadata lock at
//! start and end, so `lock_wait_timeout` matters as `lock_timeout` does in
//! PostgreSQL.

use super::{Duration, Lock, LockFacts};
use crate::change::{Change, EnumOp};

const MDL_NOTE: &str = "the exclusive metadata lock at start and end queues every query behind open transactions: SET SESSION lock_wait_timeout = 2 and retry";

fn instant(stmt: String) -> LockFacts {
    LockFacts::new(stmt, Lock::MdlBrief, Duration::Brief)
        .note("ALGORITHM=INSTANT: metadata only")
        .note(MDL_NOTE)
}

fn inplace_rebuild(stmt: String) -> LockFacts {
    let mut f = LockFacts::new(stmt, Lock::MdlBrief, Duration::Rewrite).note(
        "ALGORITHM=INPLACE, LOCK=NONE: the table is rebuilt in place while reads and writes continue; replicas apply it serially afterwards (lag)",
    );
    f.blocks = Lock::MdlBrief.blocks().to_string();
    f.note(MDL_NOTE)
}

fn inplace(stmt: String) -> LockFacts {
    LockFacts::new(stmt, Lock::MdlBrief, Duration::IndexBuild)
        .note("ALGORITHM=INPLACE, LOCK=NONE: concurrent DML allowed while the index builds")
        .note(MDL_NOTE)
}

fn copy(stmt: String) -> LockFacts {
    LockFacts::new(stmt, Lock::MdlSharedNoWrite, Duration::Rewrite)
        .note("ALGORITHM=COPY: the table is copied while writes are blocked; use gh-ost or pt-online-schema-change on large tables")
}

/// The facts of the naive DDL on MySQL 8.0 (8.0.29+ assumed for INSTANT drop).
pub fn naive_facts(change: &Change) -> Vec<LockFacts> {
    match change {
        Change::AddColumn { table, column, data_type, .. } => {
            vec![instant(format!("ALTER TABLE {table} ADD COLUMN {column} {data_type}")).note("INSTANT since 8.0.12 (any position since 8.0.29)")]
        }
        Change::AddNotNullColumn { table, column, data_type, .. } => vec![instant(format!(
            "ALTER TABLE {table} ADD COLUMN {column} {data_type} NOT NULL DEFAULT ..."
        ))
        .note("with a constant default the add is INSTANT; filling rows from other data is a separate batched UPDATE")],
        Change::DropColumn { table, column } => {
            vec![instant(format!("ALTER TABLE {table} DROP COLUMN {column}")).note("INSTANT since 8.0.29; INPLACE with a rebuild before")]
        }
        Change::RenameColumn { table, column, new_name } => vec![instant(format!(
            "ALTER TABLE {table} RENAME COLUMN {column} TO {new_name}"
        ))
        .note("INSTANT since 8.0.28, but old app versions naming the column break at once")],
        Change::ChangeColumnType { table, column, to_type, .. } => vec![copy(format!(
            "ALTER TABLE {table} MODIFY COLUMN {column} {to_type}"
        ))
        .note("VARCHAR growth within the same length-byte bucket (under 256 bytes, or both above) is INPLACE without a copy")],
        Change::SetNotNull { table, column } => {
            vec![inplace_rebuild(format!("ALTER TABLE {table} MODIFY COLUMN {column} ... NOT NULL")).note("needs strict SQL mode; fails if any row is NULL")]
        }
        Change::DropNotNull { table, column } => {
            vec![inplace_rebuild(format!("ALTER TABLE {table} MODIFY COLUMN {column} ... NULL"))]
        }
        Change::SetDefault { table, column, .. } => {
            vec![instant(format!("ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT ..."))]
        }
        Change::AddIndex { table, columns, .. } | Change::AddUniqueConstraint { table, columns, .. } => {
            vec![inplace(format!("ALTER TABLE {table} ADD INDEX ({})", columns.join(", ")))
                .note("FULLTEXT and SPATIAL indexes do not allow concurrent DML")]
        }
        Change::DropIndex { name, table } => vec![instant(format!(
            "ALTER TABLE {} DROP INDEX {name}",
            table.as_deref().unwrap_or("its_table")
        ))
        .note("INPLACE, metadata only")],
        Change::AddPrimaryKey { table, columns, .. } => {
            vec![inplace_rebuild(format!("ALTER TABLE {table} ADD PRIMARY KEY ({})", columns.join(", ")))]
        }
        Change::AddForeignKey { table, columns, references_table, .. } => vec![copy(format!(
            "ALTER TABLE {table} ADD FOREIGN KEY ({}) REFERENCES {references_table}",
            columns.join(", ")
        ))
        .note("INPLACE only with foreign_key_checks=0 (existing rows are then not checked)")],
        Change::AddCheckConstraint { table, .. } => vec![copy(format!("ALTER TABLE {table} ADD CHECK (...)"))
            .note("MySQL 8.0.16+ enforces CHECK; adding one copies the table to verify rows")],
        Change::RenameTable { table, new_name } => vec![instant(format!("RENAME TABLE {table} TO {new_name}"))
            .note("metadata only, but old app versions naming the table break at once")],
        Change::DropTable { table } => vec![instant(format!("DROP TABLE {table}")).note("irreversible without a backup")],
        Change::CreateTable { table, .. } => vec![LockFacts::new(format!("CREATE TABLE {table} (...)"), Lock::None, Duration::Brief)],
        Change::EnumChange { operation, .. } => match operation {
            EnumOp::AddValue { before: None, after: None, .. } => vec![instant("ALTER TABLE ... MODIFY COLUMN ... ENUM(..., 'new')".into())
                .note("appending a member at the end is INSTANT while the storage size stays the same")],
            _ => vec![copy("ALTER TABLE ... MODIFY COLUMN ... ENUM(...)".into())
                .note("inserting, reordering, renaming or removing members copies the table")],
        },
        Change::SplitColumn { table, .. }
        | Change::MergeColumns { table, .. }
        | Change::SplitTable { table, .. }
        | Change::MergeTables { table, .. }
        | Change::BackfillOnly { table, .. } => vec![LockFacts::new(
            format!("UPDATE {table} SET ... (one statement)"),
            Lock::RowExclusive,
            Duration::Statement,
        )
        .note("InnoDB row locks are held until the single UPDATE commits; the undo log and replica lag grow with it")],
        Change::MoveColumn { from_table, .. } => vec![LockFacts::new(
            format!("UPDATE ... FROM {from_table} (one statement)"),
            Lock::RowExclusive,
            Duration::Statement,
        )],
    }
}
