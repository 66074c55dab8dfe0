//! Steps -> one change. Statements that together make one change, the way
//! developers write them by hand (add a column, fill it, make it NOT NULL;
//! copy a column and drop the old one; create a table, copy rows into it and
//! drop the moved columns ...), are folded into that change; whatever is
//! left must be exactly one change.

use super::read::{At, Index, Kind, Step};
use super::text::{mentions_column, name_text};
use super::DdlError;
use crate::change::{Change, ColumnSpec, Fill};
use crate::context::Engine;

pub(super) fn combine(
    steps: Vec<Step>,
    engine: Engine,
    notes: &mut Vec<String>,
) -> Result<Change, DdlError> {
    let mut c = Combiner {
        steps: steps.into_iter().map(Some).collect(),
        out: Vec::new(),
        engine,
        notes,
    };
    c.validations();
    c.constraints_using_index()?;
    c.not_null_via_check();
    c.split_tables()?;
    c.merge_tables()?;
    c.move_columns()?;
    c.column_flows()?;
    c.rest();
    c.finish()
}

/// A step that is not a change on its own, with why and what to give instead.
type NotAChange = String;

struct Combiner<'n> {
    /// `None` once a step is folded into a change.
    steps: Vec<Option<Step>>,
    /// Results in the order of the step that anchors them.
    out: Vec<(usize, At, Result<Change, NotAChange>)>,
    engine: Engine,
    notes: &'n mut Vec<String>,
}

impl Combiner<'_> {
    fn note(&mut self, n: String) {
        if !self.notes.contains(&n) {
            self.notes.push(n);
        }
    }

    fn kind(&self, i: usize) -> Option<&Kind> {
        self.steps.get(i).and_then(|s| s.as_ref()).map(|s| &s.kind)
    }

    fn find(&self, pred: impl Fn(&Kind) -> bool) -> Option<usize> {
        (0..self.steps.len()).find(|&i| self.kind(i).is_some_and(&pred))
    }

    fn find_all(&self, pred: impl Fn(&Kind) -> bool) -> Vec<usize> {
        (0..self.steps.len())
            .filter(|&i| self.kind(i).is_some_and(&pred))
            .collect()
    }

    fn take(&mut self, i: usize) -> Option<Step> {
        self.steps.get_mut(i).and_then(Option::take)
    }

    fn at(&self, i: usize) -> At {
        self.steps
            .get(i)
            .and_then(|s| s.as_ref())
            .map(|s| s.at.clone())
            .unwrap_or(At {
                line: 0,
                snippet: String::new(),
            })
    }

    fn push(&mut self, anchor: usize, at: At, change: Change) {
        self.out.push((anchor, at, Ok(change)));
    }

    fn error<T>(&self, at: &At, what: impl std::fmt::Display) -> Result<T, DdlError> {
        Err(DdlError(format!("{what} (at {at})")))
    }

    /// Consumes a `SET NOT NULL` of a column that a combined change replaces,
    /// saying that the combined change does not carry it.
    fn drop_set_not_null(&mut self, table: &str, column: &str, change: &str) {
        if let Some(i) = self.find(|k| is_set_not_null(k, table, column)) {
            self.take(i);
            self.note(format!(
                "SET NOT NULL on {table}.{column} is not part of {change}: make it NOT NULL as its own change afterwards"
            ));
        }
    }

    /// `VALIDATE CONSTRAINT c` after `ADD CONSTRAINT c ... NOT VALID` is the
    /// safe way to write the one constraint.
    fn validations(&mut self) {
        for i in 0..self.steps.len() {
            let Some(Kind::Validate { table, name }) = self.kind(i).cloned() else {
                continue;
            };
            let added = self.find(|k| match k {
                Kind::ForeignKey {
                    table: t,
                    name: Some(n),
                    ..
                }
                | Kind::Check {
                    table: t,
                    name: Some(n),
                    ..
                } => *t == table && *n == name,
                _ => false,
            });
            if let Some(j) = added {
                if let Some(Some(Step {
                    kind: Kind::ForeignKey { not_valid, .. } | Kind::Check { not_valid, .. },
                    ..
                })) = self.steps.get_mut(j)
                {
                    *not_valid = false;
                }
                self.take(i);
            }
        }
    }

    /// `CREATE UNIQUE INDEX CONCURRENTLY i ...; ADD CONSTRAINT k UNIQUE USING INDEX i`
    /// (or PRIMARY KEY USING INDEX) is the safe way to write one constraint.
    fn constraints_using_index(&mut self) -> Result<(), DdlError> {
        for i in 0..self.steps.len() {
            let (table, name, index, primary) = match self.kind(i) {
                Some(Kind::UniqueUsingIndex { table, name, index }) => {
                    (table.clone(), name.clone(), index.clone(), false)
                }
                Some(Kind::PrimaryKeyUsingIndex { table, name, index }) => {
                    (table.clone(), name.clone(), index.clone(), true)
                }
                _ => continue,
            };
            let created = self.find(|k| match k {
                Kind::CreateIndex(ix) => {
                    ix.name
                        .as_deref()
                        .is_some_and(|n| n == index || n.ends_with(&format!(".{index}")))
                        && ix.table == table
                }
                _ => false,
            });
            let Some(j) = created else { continue };
            let at = self.at(i);
            let Some(Kind::CreateIndex(ix)) = self.kind(j).cloned() else {
                continue;
            };
            if !ix.unique {
                return self.error(&at, format!("index {index} is not UNIQUE, so it cannot back a constraint: create it with CREATE UNIQUE INDEX"));
            }
            if !ix.plain || ix.predicate.is_some() {
                return self.error(&at, format!("index {index} is partial or on expressions, so it cannot back a constraint: index plain columns"));
            }
            self.take(j);
            let name = name.or(Some(index));
            let kind = if primary {
                Kind::PrimaryKey {
                    table,
                    name,
                    columns: ix.columns,
                }
            } else {
                Kind::Unique {
                    table,
                    name,
                    columns: ix.columns,
                }
            };
            if let Some(Some(step)) = self.steps.get_mut(i) {
                step.kind = kind;
            }
        }
        Ok(())
    }

    /// `ADD CONSTRAINT c CHECK (x IS NOT NULL) NOT VALID; VALIDATE ...; SET NOT NULL;
    /// DROP CONSTRAINT c` is the safe way to write SET NOT NULL.
    fn not_null_via_check(&mut self) {
        for i in 0..self.steps.len() {
            let Some(Kind::Check {
                table,
                name,
                not_null_of: Some(column),
                ..
            }) = self.kind(i).cloned()
            else {
                continue;
            };
            let set = self.find(|k| is_set_not_null(k, &table, &column));
            if set.is_none() {
                continue;
            }
            self.take(i);
            if let Some(name) = name {
                if let Some(k) = self.find(|k| is_drop_constraint(k, &table, &name)) {
                    self.take(k);
                }
            }
        }
    }

    /// CREATE TABLE new (...); INSERT INTO new (key, a, b) SELECT id, a, b FROM t;
    /// ALTER TABLE t DROP COLUMN a, DROP COLUMN b -> split_table.
    fn split_tables(&mut self) -> Result<(), DdlError> {
        for i in 0..self.steps.len() {
            let Some(Kind::Copy { into, from, pairs }) = self.kind(i).cloned() else {
                continue;
            };
            let Some(created) =
                self.find(|k| matches!(k, Kind::CreateTable { table, .. } if *table == into))
            else {
                continue;
            };
            let at = self.at(i);
            let key_pair = pairs.iter().position(|(_, s)| s == "id").or_else(|| {
                let renamed: Vec<usize> = (0..pairs.len())
                    .filter(|&p| pairs[p].0 != pairs[p].1)
                    .collect();
                (renamed.len() == 1).then(|| renamed[0])
            });
            let Some(key_pair) = key_pair else {
                return self.error(&at, format!(
                    "cannot tell which column of {into} refers to {from}'s rows: copy {from}.id into it, e.g. `INSERT INTO {into} ({}_id, ...) SELECT id, ... FROM {from}`",
                    crate::change::singular(&from)
                ));
            };
            let key = pairs[key_pair].0.clone();
            let mut columns = Vec::new();
            for (p, (target, source)) in pairs.iter().enumerate() {
                if p == key_pair {
                    continue;
                }
                if target != source {
                    return self.error(&at, format!(
                        "the copy renames {from}.{source} to {into}.{target}: a table split keeps column names; rename as its own change"
                    ));
                }
                columns.push(source.clone());
            }
            let drops =
                self.find_all(|k| matches!(k, Kind::DropColumn { table, .. } if *table == from));
            let dropped: Vec<String> = drops
                .iter()
                .filter_map(|&d| match self.kind(d) {
                    Some(Kind::DropColumn { column, .. }) => Some(column.clone()),
                    _ => None,
                })
                .collect();
            let mut a = dropped.clone();
            let mut b = columns.clone();
            a.sort();
            b.sort();
            if a != b {
                let what = if dropped.is_empty() {
                    format!(
                        "the SQL copies ({}) from {from} into {into} but drops none of them: add `ALTER TABLE {from} DROP COLUMN ...` for each to plan it as split_table",
                        columns.join(", ")
                    )
                } else {
                    format!(
                        "a table split moves columns: copy ({}) into {into} and drop exactly those from {from}; the SQL drops ({})",
                        columns.join(", "),
                        dropped.join(", ")
                    )
                };
                return self.error(&at, what);
            }
            for d in drops {
                self.take(d);
            }
            self.take(created);
            self.take(i);
            self.note(format!(
                "the moved columns keep their types and constraints from {from}; the column definitions of CREATE TABLE {into} are not used"
            ));
            self.push(
                i,
                at,
                Change::SplitTable {
                    table: from,
                    new_table: into,
                    columns,
                    key: Some(key),
                },
            );
        }
        Ok(())
    }

    /// ADD COLUMN bio ...; UPDATE users SET bio = p.bio FROM user_profiles p
    /// WHERE p.user_id = users.id; DROP TABLE user_profiles -> merge_tables.
    fn merge_tables(&mut self) -> Result<(), DdlError> {
        for i in 0..self.steps.len() {
            let Some(Kind::DropTable { table: other }) = self.kind(i).cloned() else {
                continue;
            };
            let fills = self.find_all(|k| matches!(k, Kind::Fill { fill: Fill::Lookup { table, .. }, .. } if *table == other));
            if fills.is_empty() {
                continue;
            }
            let at = self.at(i);
            let mut table: Option<String> = None;
            let mut keys: Option<(Option<String>, Option<String>)> = None;
            let mut columns = Vec::new();
            for &f in &fills {
                let Some(Kind::Fill {
                    table: t,
                    column,
                    fill:
                        Fill::Lookup {
                            column: source,
                            local_key,
                            remote_key,
                            ..
                        },
                    ..
                }) = self.kind(f).cloned()
                else {
                    continue;
                };
                if table.as_ref().is_some_and(|x| *x != t) {
                    return self.error(&at, format!("{other} is copied into several tables before it is dropped: merge it into one table"));
                }
                if keys
                    .as_ref()
                    .is_some_and(|k| *k != (local_key.clone(), remote_key.clone()))
                {
                    return self.error(&at, format!("{other} is joined by different keys: join it the same way for every column"));
                }
                if column != source {
                    return self.error(&at, format!(
                        "{other}.{source} is copied into {t}.{column}: merging tables keeps column names; rename as its own change"
                    ));
                }
                table = Some(t);
                keys = Some((local_key, remote_key));
                columns.push(column);
            }
            let (Some(table), Some((local, remote))) = (table, keys) else {
                continue;
            };
            for &f in &fills {
                self.take(f);
            }
            for c in &columns {
                if let Some(a) = self.find(|k| is_add_column(k, &table, c)) {
                    self.take(a);
                }
                self.drop_set_not_null(&table, c, "merge_tables");
            }
            self.take(i);
            if let Some(local) = local.filter(|l| l != "id") {
                self.note(format!("{other} is joined on {table}.{local}: merge_tables takes that as {table}'s key"));
            }
            self.push(
                i,
                at,
                Change::MergeTables {
                    table,
                    other,
                    columns,
                    key: remote,
                },
            );
        }
        Ok(())
    }

    /// ALTER TABLE to ADD COLUMN c; UPDATE to SET c = f.c FROM from f WHERE
    /// to.key = f.id; ALTER TABLE from DROP COLUMN c -> move_column.
    fn move_columns(&mut self) -> Result<(), DdlError> {
        for i in 0..self.steps.len() {
            let Some(Kind::DropColumn {
                table: from,
                column,
            }) = self.kind(i).cloned()
            else {
                continue;
            };
            let fill = self.find(|k| {
                matches!(k, Kind::Fill { table: t, fill: Fill::Lookup { table: src, column: c, .. }, .. }
                    if *t != from && *src == from && *c == column)
            });
            let Some(f) = fill else { continue };
            let at = self.at(f);
            let Some(Kind::Fill {
                table: to,
                column: target,
                fill:
                    Fill::Lookup {
                        local_key,
                        remote_key,
                        ..
                    },
                ..
            }) = self.kind(f).cloned()
            else {
                continue;
            };
            if target != column {
                return self.error(&at, format!(
                    "{from}.{column} is moved into {to}.{target}: moving a column keeps its name; rename as its own change"
                ));
            }
            let data_type = match self.find(|k| is_add_column(k, &to, &column)) {
                Some(a) => self.take(a).and_then(|s| match s.kind {
                    Kind::AddColumn { spec, .. } => spec.data_type,
                    _ => None,
                }),
                None => None,
            };
            self.drop_set_not_null(&to, &column, "move_column");
            self.take(f);
            self.take(i);
            if let Some(remote) = remote_key.filter(|r| r != "id") {
                self.note(format!(
                    "{to} is joined to {from}.{remote}: move_column takes that as {from}'s key"
                ));
            }
            self.push(
                i,
                at,
                Change::MoveColumn {
                    column,
                    from_table: from,
                    to_table: to,
                    data_type,
                    key: local_key,
                },
            );
        }
        Ok(())
    }

    /// Per table: new columns filled by an UPDATE, and the columns dropped
    /// once they are copied (split, merge, rename or type change by copy),
    /// or the new column made NOT NULL after its backfill.
    fn column_flows(&mut self) -> Result<(), DdlError> {
        let mut tables: Vec<String> = Vec::new();
        for i in 0..self.steps.len() {
            if let Some(Kind::AddColumn { table, .. }) = self.kind(i) {
                if !tables.contains(table) {
                    tables.push(table.clone());
                }
            }
        }
        for table in tables {
            let adds =
                self.find_all(|k| matches!(k, Kind::AddColumn { table: t, .. } if *t == table));
            let mut flows = Vec::new();
            for &a in &adds {
                let Some(Kind::AddColumn { spec, .. }) = self.kind(a).cloned() else {
                    continue;
                };
                let fills = self.find_all(|k| is_fill(k, &table, &spec.name));
                if fills.len() > 1 {
                    return self.error(
                        &self.at(fills[1]),
                        format!(
                            "{table}.{} is filled by two UPDATEs: fill it once",
                            spec.name
                        ),
                    );
                }
                flows.push(Flow {
                    add: a,
                    spec,
                    fill: fills.first().copied(),
                });
            }
            let added: Vec<String> = flows.iter().map(|f| f.spec.name.clone()).collect();
            let drops = self.find_all(|k| {
                matches!(k, Kind::DropColumn { table: t, column } if *t == table && !added.contains(column))
            });
            let dropped: Vec<String> = drops
                .iter()
                .filter_map(|&d| match self.kind(d) {
                    Some(Kind::DropColumn { column, .. }) => Some(column.clone()),
                    _ => None,
                })
                .collect();
            let computed: Vec<(usize, String)> = flows
                .iter()
                .enumerate()
                .filter_map(|(n, f)| match f.fill.and_then(|i| self.kind(i)) {
                    Some(Kind::Fill {
                        fill: Fill::Expression { expression },
                        ..
                    }) => Some((n, expression.clone())),
                    _ => None,
                })
                .collect();
            let mentions = |e: &str, c: &str| mentions_column(e, c, self.engine);
            let mut consumed = vec![false; flows.len()];
            match (computed.len(), dropped.len()) {
                (0, _) | (_, 0) => {}
                (1, 1) if mentions(&computed[0].1, &dropped[0]) => {
                    let (n, expr) = &computed[0];
                    self.copy_column(&table, &flows[*n], expr, drops[0], &dropped[0])?;
                    consumed[*n] = true;
                }
                (k, 1) if k >= 2 && computed.iter().all(|(_, e)| mentions(e, &dropped[0])) => {
                    let mut into = Vec::new();
                    for (n, expr) in &computed {
                        self.check_fill_predicate(&table, &flows[*n])?;
                        let mut spec = flows[*n].spec.clone();
                        spec.not_null |= self.take_set_not_null(&table, &spec.name);
                        spec.expression = Some(expr.clone());
                        into.push(spec);
                        consumed[*n] = true;
                        self.take_flow(&flows[*n]);
                    }
                    self.take(drops[0]);
                    let first = flows[computed[0].0].add;
                    let at = self.at_or(first, drops[0]);
                    self.push(
                        first,
                        at,
                        Change::SplitColumn {
                            table: table.clone(),
                            column: dropped[0].clone(),
                            into,
                        },
                    );
                }
                (1, m) if m >= 2 && dropped.iter().all(|d| mentions(&computed[0].1, d)) => {
                    let (n, expr) = &computed[0];
                    let flow = &flows[*n];
                    self.check_fill_predicate(&table, flow)?;
                    let at = self.at(flow.add);
                    self.take_flow(flow);
                    for &d in &drops {
                        self.take(d);
                    }
                    self.drop_set_not_null(&table, &flow.spec.name, "merge_columns");
                    if let Some(d) = &flow.spec.default {
                        self.note(format!(
                            "the default {d} of {table}.{} is not part of merge_columns",
                            flow.spec.name
                        ));
                    }
                    consumed[*n] = true;
                    self.push(
                        flow.add,
                        at,
                        Change::MergeColumns {
                            table: table.clone(),
                            columns: dropped.clone(),
                            into: flow.spec.name.clone(),
                            data_type: flow.spec.data_type.clone(),
                            expression: Some(expr.clone()),
                        },
                    );
                }
                _ => {}
            }
            for (n, flow) in flows.iter().enumerate() {
                if !consumed[n] {
                    self.add_column(&table, flow)?;
                }
            }
        }
        Ok(())
    }

    fn at_or(&self, i: usize, j: usize) -> At {
        let at = self.at(i);
        if at.line == 0 {
            self.at(j)
        } else {
            at
        }
    }

    fn take_flow(&mut self, flow: &Flow) {
        self.take(flow.add);
        if let Some(f) = flow.fill {
            self.take(f);
        }
    }

    fn take_set_not_null(&mut self, table: &str, column: &str) -> bool {
        match self.find(|k| is_set_not_null(k, table, column)) {
            Some(i) => self.take(i).is_some(),
            None => false,
        }
    }

    /// A fill of a new column may only be limited to the rows still NULL
    /// (all of them); any other condition would leave rows unfilled.
    fn check_fill_predicate(&mut self, table: &str, flow: &Flow) -> Result<(), DdlError> {
        let Some(Kind::Fill {
            predicate: Some(p), ..
        }) = flow.fill.and_then(|f| self.kind(f)).cloned()
        else {
            return Ok(());
        };
        let normal = p
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        if normal == format!("{} is null", flow.spec.name.to_ascii_lowercase()) {
            return Ok(());
        }
        let at = flow
            .fill
            .map(|f| self.at(f))
            .unwrap_or_else(|| self.at(flow.add));
        self.error(&at, format!(
            "the UPDATE fills {table}.{} only WHERE {p}, which leaves other rows without a value; fill every row (the plan batches the backfill)",
            flow.spec.name
        ))
    }

    /// ADD COLUMN new; UPDATE SET new = <old>; DROP COLUMN old [; RENAME new TO old]:
    /// a type change when renamed back, a rename when copied as is.
    fn copy_column(
        &mut self,
        table: &str,
        flow: &Flow,
        expr: &str,
        drop: usize,
        old: &str,
    ) -> Result<(), DdlError> {
        self.check_fill_predicate(table, flow)?;
        let new = flow.spec.name.clone();
        let at = self.at(flow.add);
        let bare = expr.trim() == old
            || name_text(expr.trim().trim_matches('"'), expr.trim().starts_with('"')) == old;
        let renamed = self.find(|k| {
            matches!(k, Kind::RenameColumn { table: t, from, to } if t == table && *from == new && to == old)
        });
        let to_type = flow.spec.data_type.clone().unwrap_or_else(|| "text".into());
        let change = match renamed {
            Some(r) => {
                self.take(r);
                self.drop_set_not_null(table, &new, "change_column_type");
                self.drop_set_not_null(table, old, "change_column_type");
                if flow.spec.not_null || flow.spec.default.is_some() {
                    self.note(format!(
                        "change_column_type keeps {table}.{old}'s NULL-ability and default; the NOT NULL / DEFAULT written on {new} are not used"
                    ));
                }
                Change::ChangeColumnType {
                    table: table.into(),
                    column: old.into(),
                    from_type: None,
                    to_type,
                    using: (!bare).then(|| expr.to_string()),
                }
            }
            None if bare => {
                self.drop_set_not_null(table, &new, "rename_column");
                self.note(format!(
                    "read as renaming {table}.{old} to {new}: a rename keeps {old}'s type, so the type {to_type} written for {new} is not used"
                ));
                Change::RenameColumn { table: table.into(), column: old.into(), new_name: new }
            }
            None => {
                return self.error(&at, format!(
                    "the SQL copies {table}.{old} into {new} as `{expr}` and drops {old}: that converts and renames at once; give them as two changes, change_column_type (to_type {to_type}, using `{expr}`) and then rename_column"
                ))
            }
        };
        self.take_flow(flow);
        self.take(drop);
        self.push(flow.add, at, change);
        Ok(())
    }

    /// A new column, with its fill (UPDATE), its SET NOT NULL and its SET DEFAULT folded in.
    fn add_column(&mut self, table: &str, flow: &Flow) -> Result<(), DdlError> {
        let at = self.at(flow.add);
        let spec = &flow.spec;
        let column = spec.name.clone();
        let data_type = spec.data_type.clone().unwrap_or_else(|| "text".into());
        let fill = match flow.fill.and_then(|f| self.kind(f)).cloned() {
            Some(Kind::Fill { fill, .. }) => Some(fill),
            _ => None,
        };
        let not_null = self.take_set_not_null(table, &column) || spec.not_null;
        let mut default = spec.default.clone();
        if not_null && default.is_none() {
            if let Some(d) = self.find(|k| is_set_default(k, table, &column)) {
                if let Some(Step {
                    kind: Kind::SetDefault { default: d, .. },
                    ..
                }) = self.take(d)
                {
                    default = d;
                }
            }
        }
        let change = match fill {
            Some(fill) => {
                if !not_null {
                    return self.error(&at, format!(
                        "the SQL adds {table}.{column} as a nullable column and fills it: that is two changes, add_column and then backfill_only; if every row gets a value, add `ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL` to plan it as one add_not_null_column"
                    ));
                }
                self.check_fill_predicate(table, flow)?;
                Change::AddNotNullColumn {
                    table: table.into(),
                    column,
                    data_type,
                    default,
                    fill: Some(fill),
                }
            }
            None if not_null => {
                if default.is_none() {
                    self.note(format!(
                        "{table}.{column} is NOT NULL with neither a DEFAULT nor a backfill UPDATE: existing rows need a value, so give one (`DEFAULT ...` or `UPDATE {table} SET {column} = ...`)"
                    ));
                }
                Change::AddNotNullColumn {
                    table: table.into(),
                    column,
                    data_type,
                    default,
                    fill: None,
                }
            }
            None => Change::AddColumn {
                table: table.into(),
                column,
                data_type,
                default,
            },
        };
        self.take_flow(flow);
        self.push(flow.add, at, change);
        Ok(())
    }

    /// Every step not folded into a combined change stands alone.
    fn rest(&mut self) {
        for i in 0..self.steps.len() {
            let Some(step) = self.take(i) else { continue };
            let result = match step.kind {
                Kind::AddColumn { table, spec } => {
                    let data_type = spec.data_type.unwrap_or_else(|| "text".into());
                    Ok(if spec.not_null {
                        Change::AddNotNullColumn { table, column: spec.name, data_type, default: spec.default, fill: None }
                    } else {
                        Change::AddColumn { table, column: spec.name, data_type, default: spec.default }
                    })
                }
                Kind::DropColumn { table, column } => Ok(Change::DropColumn { table, column }),
                Kind::RenameColumn { table, from, to } => Ok(Change::RenameColumn { table, column: from, new_name: to }),
                Kind::RenameTable { table, to } => Ok(Change::RenameTable { table, new_name: to }),
                Kind::SetType { table, column, to_type, using } => {
                    Ok(Change::ChangeColumnType { table, column, from_type: None, to_type, using })
                }
                Kind::SetNotNull { table, column } => Ok(Change::SetNotNull { table, column }),
                Kind::DropNotNull { table, column } => Ok(Change::DropNotNull { table, column }),
                Kind::SetDefault { table, column, default } => Ok(Change::SetDefault { table, column, default }),
                Kind::CreateIndex(Index { table, name, columns, unique, method, predicate, .. }) => {
                    Ok(Change::AddIndex { table, columns, name, unique, method, predicate })
                }
                Kind::DropIndex { name, table } => Ok(Change::DropIndex { name, table }),
                Kind::Unique { table, name, columns } => Ok(Change::AddUniqueConstraint { table, columns, name }),
                Kind::PrimaryKey { table, name, columns } => Ok(Change::AddPrimaryKey { table, columns, name }),
                Kind::ForeignKey { table, name, columns, references_table, references_columns, on_delete, not_valid } => {
                    if not_valid {
                        self.note_unvalidated(&name);
                    }
                    Ok(Change::AddForeignKey { table, columns, references_table, references_columns, name, on_delete })
                }
                Kind::Check { table, name, expression, not_valid, .. } => {
                    if not_valid {
                        self.note_unvalidated(&name);
                    }
                    Ok(Change::AddCheckConstraint { table, expression, name })
                }
                Kind::Validate { table, name } => Err(format!(
                    "VALIDATE CONSTRAINT {name} on {table} is not a change on its own: give the ADD CONSTRAINT {name} ... NOT VALID it validates"
                )),
                Kind::DropConstraint { table, name } => Err(format!(
                    "dropping constraint {name} of {table} is not a change schemashift plans (it is read only as the last step of a SET NOT NULL done through a CHECK)"
                )),
                Kind::DropTable { table } => Ok(Change::DropTable { table }),
                Kind::CreateTable { table, columns } => Ok(Change::CreateTable { table, columns }),
                Kind::Enum { type_name, operation } => Ok(Change::EnumChange { type_name, operation }),
                Kind::Fill { table, column, fill, predicate } => Ok(Change::BackfillOnly { table, column, fill, predicate }),
                Kind::Copy { into, from, .. } => Err(format!(
                    "copying rows from {from} into {into} is read only as part of a table split: give CREATE TABLE {into} (...), the INSERT ... SELECT and the ALTER TABLE {from} DROP COLUMN statements together"
                )),
                Kind::UniqueUsingIndex { table, index, .. } | Kind::PrimaryKeyUsingIndex { table, index, .. } => Err(format!(
                    "the constraint on {table} USING INDEX {index} needs the CREATE UNIQUE INDEX {index} statement too, to know its columns; or give add_unique_constraint / add_primary_key with the columns"
                )),
            };
            self.out.push((i, step.at, result));
        }
    }

    fn note_unvalidated(&mut self, name: &Option<String>) {
        let which = name
            .as_deref()
            .map(|n| format!("constraint {n}"))
            .unwrap_or_else(|| "the constraint".into());
        self.note(format!(
            "{which} is added NOT VALID without a VALIDATE CONSTRAINT: the plan validates it too, as a separate step"
        ));
    }

    fn finish(mut self) -> Result<Change, DdlError> {
        self.out.sort_by_key(|(anchor, at, _)| (at.line, *anchor));
        let problems: Vec<String> = self
            .out
            .iter()
            .filter_map(|(_, at, r)| r.as_ref().err().map(|e| format!("{e} (at {at})")))
            .collect();
        if let [only] = problems.as_slice() {
            return Err(DdlError(only.clone()));
        }
        if !problems.is_empty() {
            return Err(DdlError(format!(
                "the SQL cannot be read as one change:\n  - {}",
                problems.join("\n  - ")
            )));
        }
        match self.out.len() {
            0 => Err(DdlError(
                "the SQL makes no schema change (it only has statements such as BEGIN, SET or COMMENT): give the DDL of one change, e.g. `ALTER TABLE users ADD COLUMN email text;`".into(),
            )),
            1 => match self.out.pop() {
                Some((_, _, Ok(change))) => Ok(change),
                _ => Err(DdlError("the SQL makes no schema change".into())),
            },
            n => {
                let list: Vec<String> = self
                    .out
                    .iter()
                    .filter_map(|(_, at, r)| r.as_ref().ok().map(|c| format!("{} (line {})", c.describe(), at.line)))
                    .collect();
                Err(DdlError(format!(
                    "the SQL makes {n} separate changes:\n  - {}\ngive one change at a time. Statements that together make one change are read as one, e.g. `ALTER TABLE t ADD COLUMN c int; UPDATE t SET c = 0; ALTER TABLE t ALTER COLUMN c SET NOT NULL;` is one add_not_null_column",
                    list.join("\n  - ")
                )))
            }
        }
    }
}

/// A new column with the UPDATE that fills it, if any.
struct Flow {
    add: usize,
    spec: ColumnSpec,
    fill: Option<usize>,
}

fn is_set_not_null(k: &Kind, table: &str, column: &str) -> bool {
    matches!(k, Kind::SetNotNull { table: t, column: c } if t == table && c == column)
}

fn is_drop_constraint(k: &Kind, table: &str, name: &str) -> bool {
    matches!(k, Kind::DropConstraint { table: t, name: n } if t == table && n == name)
}

fn is_add_column(k: &Kind, table: &str, column: &str) -> bool {
    matches!(k, Kind::AddColumn { table: t, spec } if t == table && spec.name == column)
}

fn is_fill(k: &Kind, table: &str, column: &str) -> bool {
    matches!(k, Kind::Fill { table: t, column: c, .. } if t == table && c == column)
}

fn is_set_default(k: &Kind, table: &str, column: &str) -> bool {
    matches!(k, Kind::SetDefault { table: t, column: c, default: Some(_) } if t == table && c == column)
}
