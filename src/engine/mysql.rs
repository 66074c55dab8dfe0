//! MySQL 8 InnoDB online DDL: which ALGORITHM each naive DDL form gets and
//! what it blocks. Every algorithm takes a brief exclusive metadata lock at
//! start and end, so `lock_wait_timeout` matters as `lock_timeout` does in
//! PostgreSQL.

use super::{Duration, Lock, LockFacts, Naive};
use crate::change::{Change, EnumOp};
use crate::context::Engine;

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
    let n = Naive {
        engine: Engine::Mysql,
    };
    // Every name in backticks; types are checked SQL.
    let q = |raw: &str| n.name(raw);
    match change {
        Change::AddColumn { table, column, data_type, .. } => {
            vec![instant(format!("ALTER TABLE {} ADD COLUMN {} {data_type}", q(table), q(column))).note("INSTANT since 8.0.12 (any position since 8.0.29)")]
        }
        Change::AddNotNullColumn { table, column, data_type, .. } => vec![instant(format!(
            "ALTER TABLE {} ADD COLUMN {} {data_type} NOT NULL DEFAULT ...",
            q(table),
            q(column)
        ))
        .note("with a constant default the add is INSTANT; filling rows from other data is a separate batched UPDATE")],
        Change::DropColumn { table, column } => {
            vec![instant(format!("ALTER TABLE {} DROP COLUMN {}", q(table), q(column))).note("INSTANT since 8.0.29; INPLACE with a rebuild before")]
        }
        Change::RenameColumn { table, column, new_name } => vec![instant(format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {}",
            q(table),
            q(column),
            q(new_name)
        ))
        .note("INSTANT since 8.0.28, but old app versions naming the column break at once")],
        Change::ChangeColumnType { table, column, to_type, .. } => vec![copy(format!(
            "ALTER TABLE {} MODIFY COLUMN {} {to_type}",
            q(table),
            q(column)
        ))
        .note("VARCHAR growth within the same length-byte bucket (under 256 bytes, or both above) is INPLACE without a copy")],
        Change::SetNotNull { table, column } => {
            vec![inplace_rebuild(format!("ALTER TABLE {} MODIFY COLUMN {} ... NOT NULL", q(table), q(column))).note("needs strict SQL mode; fails if any row is NULL")]
        }
        Change::DropNotNull { table, column } => {
            vec![inplace_rebuild(format!("ALTER TABLE {} MODIFY COLUMN {} ... NULL", q(table), q(column)))]
        }
        Change::SetDefault { table, column, .. } => {
            vec![instant(format!("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT ...", q(table), q(column)))]
        }
        Change::AddIndex { table, columns, .. } | Change::AddUniqueConstraint { table, columns, .. } => {
            vec![inplace(format!("ALTER TABLE {} ADD INDEX ({})", q(table), n.key_parts(columns)))
                .note("FULLTEXT and SPATIAL indexes do not allow concurrent DML")]
        }
        Change::DropIndex { name, table } => vec![instant(format!(
            "ALTER TABLE {} DROP INDEX {}",
            table.as_deref().map_or_else(|| "its_table".to_string(), q),
            q(name)
        ))
        .note("INPLACE, metadata only")],
        Change::AddPrimaryKey { table, columns, .. } => {
            vec![inplace_rebuild(format!("ALTER TABLE {} ADD PRIMARY KEY ({})", q(table), n.names(columns)))]
        }
        Change::AddForeignKey { table, columns, references_table, .. } => vec![copy(format!(
            "ALTER TABLE {} ADD FOREIGN KEY ({}) REFERENCES {}",
            q(table),
            n.names(columns),
            q(references_table)
        ))
        .note("INPLACE only with foreign_key_checks=0 (existing rows are then not checked)")],
        Change::AddCheckConstraint { table, .. } => vec![copy(format!("ALTER TABLE {} ADD CHECK (...)", q(table)))
            .note("MySQL 8.0.16+ enforces CHECK; adding one copies the table to verify rows")],
        Change::RenameTable { table, new_name } => vec![instant(format!("RENAME TABLE {} TO {}", q(table), q(new_name)))
            .note("metadata only, but old app versions naming the table break at once")],
        Change::DropTable { table } => vec![instant(format!("DROP TABLE {}", q(table))).note("irreversible without a backup")],
        Change::CreateTable { table, .. } => vec![LockFacts::new(format!("CREATE TABLE {} (...)", q(table)), Lock::None, Duration::Brief)],
        Change::EnumChange { operation, .. } => match operation {
            EnumOp::AddValue { value, before: None, after: None } => vec![instant(format!(
                "ALTER TABLE ... MODIFY COLUMN ... ENUM(..., {})",
                n.literal(value)
            ))
            .note("appending a member at the end is INSTANT while the storage size stays the same")],
            _ => vec![copy("ALTER TABLE ... MODIFY COLUMN ... ENUM(...)".into())
                .note("inserting, reordering, renaming or removing members copies the table")],
        },
        Change::SplitColumn { table, .. }
        | Change::MergeColumns { table, .. }
        | Change::SplitTable { table, .. }
        | Change::MergeTables { table, .. }
        | Change::BackfillOnly { table, .. } => vec![LockFacts::new(
            format!("UPDATE {} SET ... (one statement)", q(table)),
            Lock::RowExclusive,
            Duration::Statement,
        )
        .note("InnoDB row locks are held until the single UPDATE commits; the undo log and replica lag grow with it")],
        Change::MoveColumn { from_table, .. } => vec![LockFacts::new(
            format!("UPDATE ... FROM {} (one statement)", q(from_table)),
            Lock::RowExclusive,
            Duration::Statement,
        )],
    }
}
