//! # add-stored-generated-column
//!
//! Finds `ALTER TABLE ... ADD COLUMN ... GENERATED ALWAYS AS (...) STORED`
//! (MySQL also `AS (...) STORED`) on a table that existed before this
//! migration. Virtual generated columns (PostgreSQL 18+, MySQL) are computed
//! on read and are not reported.
//!
//! **Why it hurts:** the expression has to be computed and stored for every
//! existing row: PostgreSQL rewrites the whole table and rebuilds every index
//! under ACCESS EXCLUSIVE, so reads and writes wait for all of it; MySQL
//! copies the table (ALGORITHM=COPY) and blocks writes until it is done.
//!
//! **Instead:** on PostgreSQL, add a plain nullable column, keep it computed
//! with a BEFORE INSERT OR UPDATE trigger, and fill existing rows in batches,
//! one transaction each (on PostgreSQL 18 a VIRTUAL generated column is also
//! instant, if it need not be indexed). On MySQL, add the column VIRTUAL
//! (instant, and it can still be indexed). Tables created earlier in the same
//! migration are fine.

use super::Rule;
use crate::context::Engine;
use crate::engine::Lock;
use crate::review::context::last_part;
use crate::review::{Ast, Ctx, Finding, Severity, Stmt};
use sqlparser::ast::{
    AlterTableOperation, ColumnDef, ColumnOption, Expr, GeneratedAs, GeneratedExpressionMode,
};

pub static RULE: Rule = Rule {
    id: "add-stored-generated-column",
    severity: Severity::Error,
    summary: "adding a STORED generated column rewrites the table and blocks writes while it does",
    source: include_str!("add_stored_generated_column.rs"),
    engines: &[Engine::Postgres, Engine::Mysql],
    check,
};

/// The expression of a STORED generated column.
fn stored_expression(def: &ColumnDef) -> Option<&Expr> {
    def.options.iter().find_map(|o| match &o.option {
        ColumnOption::Generated {
            generation_expr: Some(e),
            generation_expr_mode,
            generated_as,
            ..
        } if *generation_expr_mode == Some(GeneratedExpressionMode::Stored)
            || *generated_as == GeneratedAs::ExpStored =>
        {
            Some(e)
        }
        _ => None,
    })
}

fn check(ctx: &Ctx, stmt: &Stmt, out: &mut Vec<Finding>) {
    let Some(Ast::AlterTable(at)) = &stmt.ast else {
        return;
    };
    if stmt.alters_new_table(at) {
        return;
    }
    let table = at.name.to_string();
    let short = last_part(&at.name);
    for op in &at.operations {
        let AlterTableOperation::AddColumn { column_def, .. } = op else {
            continue;
        };
        let Some(expr) = stored_expression(column_def) else {
            continue;
        };
        let col = &column_def.name;
        let f = match ctx.engine {
            Engine::Postgres => RULE
                .finding(
                    stmt,
                    format!(
                        "adding the stored generated column {table}.{col} computes it for every existing row: {table} is rewritten under ACCESS EXCLUSIVE, and reads and writes wait for the whole rewrite"
                    ),
                )
                .on_table(table.clone(), Lock::AccessExclusive)
                .with_fix(pg_fix(&table, &short, column_def, expr, ctx.pg_version)),
            Engine::Mysql => {
                let mut virt = column_def.clone();
                for o in &mut virt.options {
                    if let ColumnOption::Generated {
                        generation_expr_mode,
                        generated_as,
                        ..
                    } = &mut o.option
                    {
                        *generation_expr_mode = Some(GeneratedExpressionMode::Virtual);
                        *generated_as = GeneratedAs::Always;
                    }
                }
                RULE.finding(
                    stmt,
                    format!(
                        "adding the STORED generated column {table}.{col} copies {table} (ALGORITHM=COPY): INSERT, UPDATE and DELETE on {table} wait for the whole copy"
                    ),
                )
                .on_table(table.clone(), Lock::MdlSharedNoWrite)
                .with_fix(format!(
                    "-- a VIRTUAL generated column is added instantly and can still be indexed:\n\
                     ALTER TABLE {table} ADD COLUMN {virt}, ALGORITHM=INSTANT;"
                ))
            }
        };
        out.push(f);
    }
}

/// A plain column kept computed by a trigger, filled in batches.
fn pg_fix(table: &str, short: &str, def: &ColumnDef, expr: &Expr, version: u32) -> String {
    let col = &def.name;
    let ty = def.data_type.to_string().to_lowercase();
    let plain = col.value.to_lowercase();
    let func = format!("{short}_{plain}_sync");
    let execute = if version >= 11 {
        "FUNCTION"
    } else {
        "PROCEDURE"
    };
    let mut s = format!(
        "ALTER TABLE {table} ADD COLUMN {col} {ty};\n\
         CREATE FUNCTION {func}() RETURNS trigger LANGUAGE plpgsql AS $sync$\n\
         BEGIN\n  SELECT {expr} INTO NEW.{col} FROM (SELECT NEW.*) AS r;\n  RETURN NEW;\nEND\n$sync$;\n\
         CREATE TRIGGER {func} BEFORE INSERT OR UPDATE ON {table} FOR EACH ROW EXECUTE {execute} {func}();\n\
         -- fill existing rows in batches, one transaction each, moving the page range on by 100 until it passes\n\
         -- pg_relation_size('{table}') / 8192 (PostgreSQL 14+ reads only that range; before 14, batch by primary key):\n\
         UPDATE {table} SET {col} = {expr} WHERE ctid >= '(0,0)'::tid AND ctid < '(100,0)'::tid;"
    );
    if version >= 18 {
        s.push_str(&format!(
            "\n-- or, if it need not be indexed, a virtual generated column is instant on PostgreSQL 18:\n\
             -- ALTER TABLE {table} ADD COLUMN {col} {ty} GENERATED ALWAYS AS ({expr}) VIRTUAL;"
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use crate::context::Engine;
    use crate::review::rules::testing::run;
    use crate::review::{review_sql, Finding, ReviewOptions};

    const ID: &str = "add-stored-generated-column";

    fn run_mysql(sql: &str) -> Vec<Finding> {
        let opts = ReviewOptions {
            engine: Engine::Mysql,
            ..ReviewOptions::default()
        };
        review_sql(sql, None, &opts)
            .into_iter()
            .filter(|f| f.rule == ID)
            .collect()
    }

    #[test]
    fn flags_stored_generated_columns() {
        let sql = "ALTER TABLE users ADD COLUMN full_name text GENERATED ALWAYS AS (first_name || ' ' || last_name) STORED;";
        for v in [12, 15, 18] {
            let f = run(ID, sql, v);
            assert_eq!(f.len(), 1, "{v}");
            assert!(f[0].message.contains("users.full_name"), "{}", f[0].message);
            assert!(f[0].message.contains("ACCESS EXCLUSIVE"));
        }
        let f = run(ID, sql, 15);
        let fix = f[0].fix.as_deref().unwrap();
        assert!(
            fix.contains("ALTER TABLE users ADD COLUMN full_name text;"),
            "{fix}"
        );
        assert!(
            fix.contains("SELECT first_name || ' ' || last_name INTO NEW.full_name FROM (SELECT NEW.*) AS r;"),
            "{fix}"
        );
        assert!(
            fix.contains("EXECUTE FUNCTION users_full_name_sync()"),
            "{fix}"
        );
        assert!(!fix.contains("VIRTUAL"), "{fix}");
        assert!(run(ID, sql, 18)[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("VIRTUAL"));
    }

    #[test]
    fn silent_on_virtual_plain_and_new_tables() {
        // PostgreSQL 18's virtual form (sqlparser cannot read it; nothing to report).
        assert!(run(
            ID,
            "ALTER TABLE users ADD COLUMN c int GENERATED ALWAYS AS (a * 2) VIRTUAL;",
            18
        )
        .is_empty());
        assert!(run(
            ID,
            "ALTER TABLE users ADD COLUMN c int GENERATED ALWAYS AS IDENTITY;",
            15
        )
        .is_empty());
        assert!(run(ID, "ALTER TABLE users ADD COLUMN c int;", 15).is_empty());
        let sql = "CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN c int GENERATED ALWAYS AS (a * 2) STORED;";
        assert!(run(ID, sql, 15).is_empty());
    }

    #[test]
    fn mysql_stored_flagged_virtual_silent() {
        let f = run_mysql(
            "ALTER TABLE users ADD COLUMN full_name VARCHAR(200) AS (CONCAT(a, b)) STORED;",
        );
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("ALGORITHM=COPY"), "{}", f[0].message);
        let fix = f[0].fix.as_deref().unwrap();
        assert!(fix.contains("VIRTUAL, ALGORITHM=INSTANT"), "{fix}");
        assert!(run_mysql(
            "ALTER TABLE users ADD COLUMN full_name VARCHAR(200) AS (CONCAT(a, b)) VIRTUAL;"
        )
        .is_empty());
        assert!(run_mysql(
            "ALTER TABLE users ADD COLUMN full_name VARCHAR(200) AS (CONCAT(a, b));"
        )
        .is_empty());
    }
}
