//! Enum type changes: adding, renaming and removing labels.

use super::*;

pub(super) fn enum_change(p: &mut Planner, type_name: &str, op: &EnumOp) -> R<Vec<Phase>> {
    let ty = QualifiedName::parse("type_name", type_name).map_err(|e| invalid(e.to_string()))?;
    let label_count = |v: &str| {
        format!(
            "SELECT count(*) FROM pg_enum WHERE enumtypid = to_regtype({}) AND enumlabel = {}",
            literal_pg(&ty.pg()),
            literal_pg(v)
        )
    };
    let add = |p: &Planner, value: &str, pos: String| -> Phase {
        let mut ex = phase(
            PhaseKind::Expand,
            format!("Add '{value}' to {ty}"),
            "add the value in its own committed step, before anything uses it",
        );
        ex.app = vec![app("v1", &[], &[])];
        let transactional = p.v() >= 12;
        ex.forward = vec![p.step(
            format!(
                "ALTER TYPE {} ADD VALUE IF NOT EXISTS {}{pos};",
                ty.pg(),
                literal_pg(value)
            ),
            transactional,
            Lock::None,
            Duration::Brief,
        )];
        ex.validation
            .push(check(label_count(value), "1", "the value exists"));
        ex.advance_when.push("the ALTER TYPE has committed (the value cannot be used in the transaction that adds it)".into());
        ex.abort_when.push("the migration tool wraps it in a transaction on PostgreSQL < 12: run it outside (Rails disable_ddl_transaction!, Django atomic = False)".into());
        ex.rollback_point =
            "none needed: PostgreSQL cannot remove an enum value, and an unused value is harmless"
                .into();
        ex
    };
    match op {
        EnumOp::AddValue { value, before, after } => {
            let pos = match (before, after) {
                (Some(b), _) => format!(" BEFORE {}", literal_pg(b)),
                (_, Some(a)) => format!(" AFTER {}", literal_pg(a)),
                _ => String::new(),
            };
            let ex = add(p, value, pos);
            let mut dep = phase(PhaseKind::Deploy, format!("Release v2, which may write '{value}'"), "writers use the value only after it is committed, and readers know it first");
            dep.app = vec![app("v1", &[ty.to_string()], &[ty.to_string()]), app("v2", &[ty.to_string()], &[ty.to_string()])];
            dep.advance_when.push(format!("every reader handles '{value}' (ship the reading side first if v1 would crash on an unknown value)"));
            dep.abort_when.push("v2 fails: redeploy v1; rows holding the value stay valid".into());
            dep.rollback_point = "redeploy v1".into();
            Ok(vec![ex, dep])
        }
        EnumOp::RenameValue { from, to } | EnumOp::RemoveValue { value: from, replace_with: Some(to) } => {
            let schema = p.schema.ok_or_else(|| invalid(format!("moving rows from '{from}' to '{to}' needs the tables that use {ty}: pass their CREATE TABLE DDL as `schema`")))?;
            let users: Vec<(QualifiedName, Ident)> = schema
                .tables
                .iter()
                .flat_map(|t| t.columns.iter().filter(|c| names_type(&c.data_type, &ty)).map(|c| (t.name.clone(), c.name.clone())))
                .collect();
            let Some((tq, col)) = users.first().cloned() else {
                return Err(invalid(format!("no column of type {ty} found in the schema given")));
            };
            if users.len() > 1 {
                p.assume(format!("only {tq}.{col} is migrated; run the same plan for the other columns of type {ty}"));
            }
            let t = p.table(&tq.pg())?;
            let ex = add(p, to, format!(" AFTER {}", literal_pg(from)));
            let mut dep = phase(PhaseKind::Deploy, format!("Release v2: writes '{to}', reads both '{from}' and '{to}'"), "new rows use the new label");
            let mut v2 = app("v2", &[format!("{tq}.{col}")], &[format!("{tq}.{col}")]);
            v2.never_writes.insert(format!("{tq}.{col}"), vec![from.clone()]);
            dep.app = vec![app("v1", &[format!("{tq}.{col}")], &[format!("{tq}.{col}")]), v2];
            dep.advance_when.push(format!("every instance runs v2; nothing writes '{from}'"));
            dep.abort_when.push("v2 fails: redeploy v1".into());
            dep.rollback_point = "redeploy v1".into();
            let remaining = format!("SELECT count(*) FROM {} WHERE {} = {}", t.sql, col.pg(), literal_pg(from));
            let (tsql, key, cp, f, tt) = (t.sql.clone(), t.key_sql(), col.pg(), literal_pg(from), literal_pg(to));
            let kb = p.keyset(&t, &[col.as_str(), "relabel"], &move |lo, hi| format!("UPDATE {tsql} SET {cp} = {tt} WHERE {key} >= {lo} AND {key} <= {hi} AND {cp} = {f}"), remaining.clone(), "keyset batches by primary key; each batch relabels rows still holding the old value")?;
            let bf = p.backfill_phase(&kb, &remaining, &format!("Move rows of {tq}.{col} from '{from}' to '{to}'"), vec![app("v2", &[], &[])]);
            p.risks.push(format!("'{from}' stays in {ty} unused: removing a value needs a new type and a column type change that rewrites {tq}; leave it, or add a CHECK ({} <> {})", col.pg(), literal_pg(from)));
            Ok(vec![ex, dep, bf])
        }
        EnumOp::RemoveValue { value, replace_with: None } => Err(invalid(format!(
            "removing '{value}' from {ty} needs `replace_with`: the value rows holding '{value}' move to before it is retired"
        ))),
    }
}

/// Whether a column's type as the schema wrote it (`status`, `"Status"`,
/// `billing.status`) is the enum type `ty`.
pub(super) fn names_type(data_type: &str, ty: &QualifiedName) -> bool {
    QualifiedName::parse("type", data_type).is_ok_and(|q| {
        q.name == ty.name
            && match (&q.schema, &ty.schema) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    })
}
