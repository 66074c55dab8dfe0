//! The plan cases and the machinery that proves them on a real PostgreSQL,
//! shared by tests/plans_pg.rs (every case on the installed server) and
//! tests/pg_majors.rs (a slice of them on every major): fixtures, cases,
//! the forward, validation, rollback and backfill runs, the fingerprints
//! and the plumbing. See tests/plans_pg.rs for what a run checks.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

use postgres::{Client, NoTls, SimpleQueryMessage};
use regex::Regex;
use schemashift::change::ChangeInput;
use schemashift::cluster::Cluster;
use schemashift::context::Context;
use schemashift::plan::{build_plan, Plan, PlanOptions, PlanRequest};

mod cases;
pub use cases::*;

// ---------------------------------------------------------------------------
// The runner
// ---------------------------------------------------------------------------

/// Everything that went wrong with one case (empty when it passes), and
/// what was exercised.
pub fn run_case(srv: &Server, case: &Case, version: u32) -> (Vec<String>, String) {
    let plan = match build(case, version) {
        Ok(plan) => plan,
        Err(e) => {
            return (
                vec![format!("[{}] build_plan failed: {e}", case.name)],
                String::new(),
            )
        }
    };
    if let Some(dir) = std::env::var_os("SCHEMASHIFT_PLANS_DUMP") {
        // Opt-in: write each case's plan for reading alongside the report.
        let path = std::path::Path::new(&dir).join(format!("{}.json", case.name));
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(
            &path,
            serde_json::to_string_pretty(&plan).unwrap_or_default(),
        );
    }
    let mut errors = step_rules(case, &plan);
    let points = rollback_points(case, &plan);
    let mut exercised = format!(
        "{} phases ({}), {} forward steps, {} checks{}; rolled back after {}",
        plan.phases.len(),
        plan.phases
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        plan.phases.iter().map(|p| p.forward.len()).sum::<usize>(),
        plan.phases
            .iter()
            .map(|p| p.validation.len())
            .sum::<usize>(),
        if case.sims.is_empty() {
            ""
        } else {
            ", app simulated"
        },
        if points.is_empty() {
            "no phase".to_string()
        } else {
            points
                .iter()
                .map(|&k| plan.phases[k].id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        },
    );

    // 1-3: forward run with checks and app simulation.
    if let Err(e) = forward_run(srv, case, &plan) {
        errors.push(e);
    }

    // 4: rollbacks.
    for k in points {
        if let Err(e) = rollback_run(srv, case, &plan, k) {
            errors.push(e);
        }
    }

    // 6: the prepared-statement backfill.
    if plan.backfill.is_some() {
        match backfill_run(srv, case, &plan) {
            Ok(batches) => {
                let _ = write!(exercised, "; prepared backfill ran {batches} batches");
            }
            Err(e) => errors.push(e),
        }
    }
    (errors, exercised)
}

pub fn build(case: &Case, version: u32) -> Result<Plan, String> {
    let change = serde_json::from_value(case.change.clone())
        .map_err(|e| format!("the case's change JSON does not parse: {e}"))?;
    let options: PlanOptions = serde_json::from_value(case.options.clone())
        .map_err(|e| format!("the case's options JSON does not parse: {e}"))?;
    let request = PlanRequest {
        input: ChangeInput {
            change: Some(change),
            ..ChangeInput::default()
        },
        context: Context {
            version: Some(version),
            ..Context::default()
        },
        schema: case.with_schema.then(|| case.fixture.ddl.to_string()),
        options,
    };
    build_plan(&request).map_err(|e| e.to_string())
}

/// Rule 5: the static rules every step obeys.
pub fn step_rules(case: &Case, plan: &Plan) -> Vec<String> {
    static UPDATE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\bUPDATE\b").unwrap());
    static LIMIT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\bLIMIT\b").unwrap());
    const GUARDED_LOCKS: [&str; 4] = [
        "ACCESS EXCLUSIVE",
        "SHARE ROW EXCLUSIVE",
        "SHARE",
        "EXCLUSIVE",
    ];
    let mut errors = Vec::new();
    for phase in &plan.phases {
        let steps = phase
            .forward
            .iter()
            .map(|s| ("forward", s))
            .chain(phase.rollback.iter().map(|s| ("rollback", s)));
        for (i, (list, step)) in steps.enumerate() {
            let what = format!("[{}] phase {} {list} step {}", case.name, phase.id, i + 1);
            if step
                .sql
                .split(';')
                .any(|stmt| UPDATE.is_match(stmt) && LIMIT.is_match(stmt))
            {
                errors.push(format!(
                    "{what}: a statement has UPDATE together with LIMIT:\n{}",
                    indent(&step.sql, "  ")
                ));
            }
            if step.sql.to_ascii_uppercase().contains("CONCURRENTLY") && step.transactional {
                errors.push(format!(
                    "{what}: CONCURRENTLY step is marked transactional: true:\n{}",
                    indent(&step.sql, "  ")
                ));
            }
            let lock = step.lock.as_str();
            if GUARDED_LOCKS.contains(&lock) && !step.sql.contains("lock_timeout") {
                errors.push(format!(
                    "{what}: takes {lock} but sets no lock_timeout:\n{}",
                    indent(&step.sql, "  ")
                ));
            }
        }
    }
    errors
}

/// Phase indexes k (0-based, inclusive) whose prefix 0..=k can be rolled back.
pub fn rollback_points(case: &Case, plan: &Plan) -> Vec<usize> {
    let mut points = Vec::new();
    for (k, phase) in plan.phases.iter().enumerate() {
        let undoable = !phase.rollback.is_empty() || phase.forward.is_empty();
        if !undoable || phase.data_loss.is_some() {
            break;
        }
        // A phase without SQL and without app traffic leaves the state of k-1.
        let simulated = case.sims.iter().any(|s| sim_phase(plan, s) == Some(k));
        if !phase.forward.is_empty() || simulated {
            points.push(k);
        }
    }
    points
}

/// Index of the phase a simulation runs after.
pub fn sim_phase(plan: &Plan, sim: &Sim) -> Option<usize> {
    plan.phases
        .iter()
        .position(|p| p.kind.as_str() == sim.after)
}

pub fn forward_run(srv: &Server, case: &Case, plan: &Plan) -> Result<(), String> {
    let run = "forward run";
    let mut db = Db::loaded(srv, case, "fwd")?;
    let start = schema_print(db.client())
        .map_err(|e| format!("[{}] {run}: fingerprint: {e}", case.name))?;
    let _ = start;
    run_phases(case, plan, &mut db, plan.phases.len(), true, run)
}

/// Runs forward steps (and checks when `validate`) of phases 0..upto, with
/// the app simulation after its phase.
pub fn run_phases(
    case: &Case,
    plan: &Plan,
    db: &mut Db<'_>,
    upto: usize,
    validate: bool,
    run: &str,
) -> Result<(), String> {
    for sim in &case.sims {
        if sim_phase(plan, sim).is_none() {
            return Err(format!(
                "[{}] {run}: the app simulation runs after the `{}` phase, but the plan has none (phases: {})",
                case.name,
                sim.after,
                phase_list(plan)
            ));
        }
    }
    for (index, phase) in plan.phases.iter().enumerate().take(upto) {
        let n = phase.forward.len();
        for (i, step) in phase.forward.iter().enumerate() {
            exec(db.client(), &step.sql).map_err(|e| {
                format!(
                    "[{}] {run}: phase {} ({}) forward step {}/{n} (transactional: {}, lock: {}) failed\n  SQL:\n{}\n  PostgreSQL: {e}",
                    case.name,
                    phase.id,
                    phase.kind.as_str(),
                    i + 1,
                    step.transactional,
                    step.lock.as_str(),
                    indent(&step.sql, "    ")
                )
            })?;
        }
        if validate {
            for check in &phase.validation {
                let got = query_value(db.client(), &check.sql);
                let ok = matches!(&got, Ok(Some(v)) if *v == check.expect);
                if !ok {
                    return Err(format!(
                        "[{}] {run}: phase {} ({}) validation failed: {}\n  SQL:\n{}\n  expected: {:?}\n  got:      {}",
                        case.name,
                        phase.id,
                        phase.kind.as_str(),
                        check.meaning,
                        indent(&check.sql, "    "),
                        check.expect,
                        describe_value(&got)
                    ));
                }
            }
        }
        for sim in case
            .sims
            .iter()
            .filter(|s| sim_phase(plan, s) == Some(index))
        {
            simulate(db.client(), sim).map_err(|e| {
                format!(
                    "[{}] {run}: app simulation after phase {} ({}): {e}",
                    case.name, phase.id, sim.after
                )
            })?;
        }
    }
    Ok(())
}

pub fn simulate(client: &mut Client, sim: &Sim) -> Result<(), String> {
    for action in &sim.actions {
        match action {
            SimAction::Exec(sql) => {
                exec(client, sql).map_err(|e| format!("\n  SQL: {sql}\n  PostgreSQL: {e}"))?
            }
            SimAction::Expect(sql, want) => {
                let got = query_value(client, sql);
                if !matches!(&got, Ok(Some(v)) if v == want) {
                    return Err(format!(
                        "\n  SQL: {sql}\n  expected: {want:?}\n  got:      {}",
                        describe_value(&got)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Forward 0..=k, then the rollbacks of k..=0; the schema and the starting
/// rows must be exactly as they were.
pub fn rollback_run(srv: &Server, case: &Case, plan: &Plan, k: usize) -> Result<(), String> {
    let phase = &plan.phases[k];
    let run = format!(
        "rollback after phase {} ({})",
        phase.id,
        phase.kind.as_str()
    );
    let mut db = Db::loaded(srv, case, &format!("rb{}", k + 1))?;
    let fail = |e: String| format!("[{}] {run}: {e}", case.name);
    let start_schema = schema_print(db.client()).map_err(fail)?;
    let start_data = data_print(db.client()).map_err(fail)?;

    run_phases(case, plan, &mut db, k + 1, false, &run)?;
    for back in (0..=k).rev() {
        let p = &plan.phases[back];
        let n = p.rollback.len();
        for (i, step) in p.rollback.iter().enumerate() {
            exec(db.client(), &step.sql).map_err(|e| {
                fail(format!(
                    "phase {} ({}) rollback step {}/{n} (transactional: {}, lock: {}) failed\n  SQL:\n{}\n  PostgreSQL: {e}",
                    p.id,
                    p.kind.as_str(),
                    i + 1,
                    step.transactional,
                    step.lock.as_str(),
                    indent(&step.sql, "    ")
                ))
            })?;
        }
    }

    let mut diffs = Vec::new();
    let end_schema = schema_print(db.client()).map_err(fail)?;
    for line in start_schema.iter().filter(|l| !end_schema.contains(l)) {
        diffs.push(format!("schema: missing after rollback: {line}"));
    }
    for line in end_schema.iter().filter(|l| !start_schema.contains(l)) {
        diffs.push(format!("schema: left behind by rollback: {line}"));
    }
    let end_data = data_print(db.client()).map_err(fail)?;
    diffs.extend(compare_data(&start_data, &end_data, !case.sims.is_empty()));
    if diffs.is_empty() {
        Ok(())
    } else {
        let phases: Vec<&str> = plan.phases[..=k]
            .iter()
            .rev()
            .map(|p| p.id.as_str())
            .collect();
        Err(fail(format!(
            "rolling back {} does not return to the starting state:\n{}",
            phases.join(" then "),
            indent(&diffs.join("\n"), "  ")
        )))
    }
}

/// Rule 6: the backfill's prepared batch, looped as `batch_loop` says: start
/// from `first_key_query`, EXECUTE `batch_name` with the key each call returns.
pub fn backfill_run(srv: &Server, case: &Case, plan: &Plan) -> Result<u64, String> {
    let backfill = plan.backfill.as_ref().expect("backfill");
    let run = "backfill run (batch_sql + batch_loop)";
    let fail = |e: String| format!("[{}] {run}: {e}", case.name);
    let mut problems = Vec::new();

    // The state right before the backfill: every phase before it.
    let at = plan
        .phases
        .iter()
        .position(|p| {
            p.kind.as_str() == "backfill"
                || p.forward.iter().any(|s| s.sql.contains(&backfill.call_sql))
        })
        .ok_or_else(|| {
            fail(format!(
                "the plan has a backfill but no backfill phase (phases: {})",
                phase_list(plan)
            ))
        })?;
    let mut db = Db::loaded(srv, case, "bf")?;
    run_phases(case, plan, &mut db, at, false, run)?;

    let rows: u64 = query_value(
        db.client(),
        &format!("SELECT count(*) FROM {}", backfill.table),
    )
    .and_then(|v| {
        v.unwrap_or_default()
            .parse::<u64>()
            .map_err(|e| e.to_string())
    })
    .map_err(|e| {
        fail(format!(
            "counting the rows of backfill.table `{}`: {e}",
            backfill.table
        ))
    })?;

    exec(db.client(), &backfill.batch_sql).map_err(|e| {
        fail(format!(
            "batch_sql failed\n  SQL:\n{}\n  PostgreSQL: {e}",
            indent(&backfill.batch_sql, "    ")
        ))
    })?;
    let name = backfill.batch_name.clone();
    // A key is one value or, for a composite key, a row of them; no row
    // means there is nothing (left) to do.
    let key_row = |client: &mut Client, sql: &str| -> Result<Option<String>, String> {
        Ok(query_rows(client, sql)?.into_iter().next().map(|r| {
            r.iter()
                .map(|v| v.as_deref().map_or("NULL".to_string(), literal))
                .collect::<Vec<_>>()
                .join(", ")
        }))
    };
    let first_key = key_row(db.client(), &backfill.first_key_query).map_err(|e| {
        fail(format!(
            "first_key_query failed\n  SQL: {}\n  PostgreSQL: {e}",
            backfill.first_key_query
        ))
    })?;
    let first = format!("EXECUTE {name}({})", first_key.as_deref().unwrap_or("NULL"));
    let mut next = key_row(db.client(), &first).map_err(|e| {
        fail(format!(
            "EXECUTE of batch 1 failed\n  SQL: {first}\n  PostgreSQL: {e}"
        ))
    })?;
    let mut batches: u64 = 1;
    while let Some(value) = next {
        if batches > rows + 10 {
            problems.push(fail(format!(
                "the loop does not end: {batches} batches for {rows} rows (last value {value:?})"
            )));
            return Err(problems.join("\n\n"));
        }
        let sql = format!("EXECUTE {name}({value})");
        next = key_row(db.client(), &sql).map_err(|e| {
            problems.push(fail(format!(
                "EXECUTE of batch {} failed\n  SQL: {sql}\n  PostgreSQL: {e}",
                batches + 1
            )));
            problems.join("\n\n")
        })?;
        batches += 1;
    }
    if backfill.batch_loop.contains("DEALLOCATE") {
        if let Err(e) = exec(db.client(), &format!("DEALLOCATE {name}")) {
            problems.push(fail(format!("DEALLOCATE {name}: {e}")));
        }
    }
    let expected = rows.div_ceil(backfill.batch_size).max(1);
    if batches != expected {
        problems.push(fail(format!(
            "{batches} batches ran for {rows} rows of {} with batch_size {}; keyset batches should be {expected}",
            backfill.table, backfill.batch_size
        )));
    }
    if let Err(e) = query_value(db.client(), &backfill.progress_query) {
        problems.push(fail(format!(
            "progress_query failed\n  SQL:\n{}\n  PostgreSQL: {e}",
            indent(&backfill.progress_query, "    ")
        )));
    }
    let done = query_value(db.client(), &backfill.completion_query);
    if !matches!(&done, Ok(Some(v)) if v == "0") {
        problems.push(fail(format!(
            "after {batches} batches completion_query does not return 0\n  SQL:\n{}\n  got: {}",
            indent(&backfill.completion_query, "    "),
            describe_value(&done)
        )));
    }
    if problems.is_empty() {
        Ok(batches)
    } else {
        Err(problems.join("\n\n"))
    }
}

// ---------------------------------------------------------------------------
// Fingerprints
// ---------------------------------------------------------------------------

/// Every object of the public schema, one sorted line each.
pub fn schema_print(client: &mut Client) -> Result<Vec<String>, String> {
    const QUERIES: [&str; 9] = [
        // Relations (tables, views, sequences) with kind and persistence.
        "SELECT format('relation %s kind=%s persistence=%s replident=%s', c.relname, c.relkind, c.relpersistence, c.relreplident)
         FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')",
        // Columns: position among live columns, type, nullability, default, identity, generated.
        "SELECT format('column %s.%s #%s %s%s%s%s%s', c.relname, a.attname,
                       row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum),
                       format_type(a.atttypid, a.atttypmod),
                       CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                       coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), ''),
                       CASE a.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY'
                                          WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY' ELSE '' END,
                       CASE WHEN a.attgenerated = 's' THEN ' GENERATED STORED' ELSE '' END)
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
           AND a.attnum > 0 AND NOT a.attisdropped",
        "SELECT format('constraint %s on %s: %s%s', conname, conrelid::regclass, pg_get_constraintdef(oid),
                       CASE WHEN convalidated THEN '' ELSE ' (not validated)' END)
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
        "SELECT format('index %s valid=%s ready=%s: %s', c.relname, i.indisvalid, i.indisready, pg_get_indexdef(i.indexrelid))
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = 'public'::regnamespace",
        "SELECT format('trigger %s enabled=%s: %s', t.tgname, t.tgenabled, pg_get_triggerdef(t.oid))
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
         WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal",
        "SELECT format('routine %s(%s) kind=%s returns %s body md5 %s', p.proname, pg_get_function_identity_arguments(p.oid),
                       p.prokind, coalesce(pg_get_function_result(p.oid), '-'), md5(p.prosrc))
         FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace",
        "SELECT format('view %s options=%s: %s', c.relname, coalesce(array_to_string(c.reloptions, ','), ''), pg_get_viewdef(c.oid))
         FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')",
        "SELECT format('enum %s: %s', t.typname, string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder))
         FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
         WHERE t.typnamespace = 'public'::regnamespace GROUP BY t.typname",
        "SELECT format('type %s kind=%s', t.typname, t.typtype)
         FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('d', 'e', 'r', 'm')",
    ];
    let mut lines = Vec::new();
    // Generated columns (and attgenerated) are 12+.
    let before_12 = query_value(
        client,
        "SELECT current_setting('server_version_num')::int < 120000",
    )?
    .as_deref()
        == Some("t");
    for q in QUERIES {
        let q = if before_12 {
            q.replace("a.attgenerated = 's'", "false")
        } else {
            q.to_string()
        };
        lines.extend(query_column(client, &q)?);
    }
    lines.sort();
    Ok(lines)
}

/// A table's rows: count, md5 of the rows in key order, and per key the md5
/// of the row (for saying which rows differ).
pub struct TableData {
    count: String,
    md5: String,
    rows: BTreeMap<String, String>,
}

pub fn data_print(client: &mut Client) -> Result<BTreeMap<String, TableData>, String> {
    let tables = query_column(
        client,
        "SELECT quote_ident(relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p') ORDER BY relname",
    )?;
    let mut out = BTreeMap::new();
    for table in tables {
        let pk = query_value(
            client,
            &format!(
                "SELECT string_agg('t.' || quote_ident(a.attname), ', ' ORDER BY k.ord)
                 FROM pg_index i
                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                 WHERE i.indrelid = {}::regclass AND i.indisprimary",
                literal(&table)
            ),
        )?;
        let (order, key) = match &pk {
            Some(cols) if cols.contains(',') => (cols.clone(), format!("ROW({cols})::text")),
            Some(col) => (col.clone(), format!("{col}::text")),
            None => ("t::text".to_string(), "t::text".to_string()),
        };
        let summary = query_row(
            client,
            &format!("SELECT count(*)::text, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY {order}), '')) FROM {table} AS t"),
        )?;
        let mut rows = BTreeMap::new();
        for row in query_rows(
            client,
            &format!("SELECT {key}, md5(t::text) FROM {table} AS t"),
        )? {
            let (k, v) = (
                row[0].clone().unwrap_or_default(),
                row[1].clone().unwrap_or_default(),
            );
            // Tables without a key can hold equal rows: number the repeats.
            let mut unique = k.clone();
            let mut n = 1;
            while rows.contains_key(&unique) {
                n += 1;
                unique = format!("{k} (#{n})");
            }
            rows.insert(unique, v);
        }
        out.insert(
            table,
            TableData {
                count: summary[0].clone().unwrap_or_default(),
                md5: summary[1].clone().unwrap_or_default(),
                rows,
            },
        );
    }
    Ok(out)
}

/// Differences between the starting rows and now. With `only_starting_rows`
/// rows the app simulation added are ignored; every starting row must still
/// be there, unchanged.
pub fn compare_data(
    start: &BTreeMap<String, TableData>,
    now: &BTreeMap<String, TableData>,
    only_starting_rows: bool,
) -> Vec<String> {
    let mut diffs = Vec::new();
    for (table, before) in start {
        let Some(after) = now.get(table) else {
            diffs.push(format!(
                "data: table {table} ({} rows) is gone",
                before.count
            ));
            continue;
        };
        if !only_starting_rows && before.count == after.count && before.md5 == after.md5 {
            continue;
        }
        let missing: Vec<&String> = before
            .rows
            .keys()
            .filter(|k| !after.rows.contains_key(*k))
            .collect();
        let changed: Vec<&String> = before
            .rows
            .iter()
            .filter(|(k, v)| after.rows.get(*k).is_some_and(|w| w != *v))
            .map(|(k, _)| k)
            .collect();
        let extra: Vec<&String> = if only_starting_rows {
            Vec::new()
        } else {
            after
                .rows
                .keys()
                .filter(|k| !before.rows.contains_key(*k))
                .collect()
        };
        if missing.is_empty() && changed.is_empty() && extra.is_empty() {
            if !only_starting_rows {
                diffs.push(format!(
                    "data: table {table}: rows are the same but their md5 in key order differs"
                ));
            }
            continue;
        }
        let sample = |keys: &[&String]| {
            keys.iter()
                .take(5)
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut line = format!(
            "data: table {table} had {} rows, now {}:",
            before.count, after.count
        );
        if !missing.is_empty() {
            let _ = write!(
                line,
                " {} starting row(s) missing (keys {});",
                missing.len(),
                sample(&missing)
            );
        }
        if !changed.is_empty() {
            let _ = write!(
                line,
                " {} starting row(s) changed (keys {});",
                changed.len(),
                sample(&changed)
            );
        }
        if !extra.is_empty() {
            let _ = write!(
                line,
                " {} row(s) added (keys {});",
                extra.len(),
                sample(&extra)
            );
        }
        diffs.push(line);
    }
    diffs
}

// ---------------------------------------------------------------------------
// PostgreSQL plumbing
// ---------------------------------------------------------------------------

/// A running server the cases run on, stopped by [`Server::stop`] or when
/// dropped.
pub struct Server {
    cluster: Mutex<Option<Cluster>>,
    /// Its major version.
    pub version: u32,
}

impl Server {
    /// A throwaway cluster: the newest installed server, or `major`'s
    /// (installed, cached or fetched).
    pub fn start(major: Option<u32>) -> Result<Server, String> {
        let cluster = match major {
            Some(m) => Cluster::start_major(m),
            None => Cluster::start(),
        }
        .map_err(|e| e.to_string())?;
        Ok(Server {
            version: cluster.version_major(),
            cluster: Mutex::new(Some(cluster)),
        })
    }

    /// Stops the server (for statics, which are never dropped).
    pub fn stop(&self) {
        let mut guard = self
            .cluster
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        drop(guard.take());
    }

    pub fn url_for(&self, database: &str) -> String {
        let guard = self
            .cluster
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard
            .as_ref()
            .expect("the server is running")
            .url_for(database)
    }

    pub fn connect(&self, database: &str) -> Result<Client, String> {
        Client::connect(&self.url_for(database), NoTls).map_err(|e| {
            format!(
                "PostgreSQL {}: connecting to database {database}: {}",
                self.version,
                pg_error(&e)
            )
        })
    }
}

pub static DB_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A database of its own for one run; dropped with the value.
pub struct Db<'s> {
    srv: &'s Server,
    name: String,
    client: Option<Client>,
}

impl<'s> Db<'s> {
    /// A fresh database holding the case's fixture schema and rows.
    pub fn loaded(srv: &'s Server, case: &Case, run: &str) -> Result<Db<'s>, String> {
        let n = DB_COUNTER.fetch_add(1, Ordering::SeqCst);
        let mut name: String = format!("t{n}_{}_{run}", case.name)
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        name.truncate(63);
        srv.connect("postgres")?
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(|e| format!("[{}] CREATE DATABASE {name}: {}", case.name, pg_error(&e)))?;
        let mut db = Db {
            srv,
            client: Some(srv.connect(&name)?),
            name,
        };
        if srv.version < 13 {
            // gen_random_uuid() is built in from 13; before, pgcrypto has it,
            // as on any server where a schema uses it.
            exec(db.client(), "CREATE EXTENSION IF NOT EXISTS pgcrypto")
                .map_err(|e| format!("[{}] CREATE EXTENSION pgcrypto: {e}", case.name))?;
        }
        for (what, sql) in [("schema", case.fixture.ddl), ("rows", case.fixture.rows)] {
            exec(db.client(), sql)
                .map_err(|e| format!("[{}] loading the fixture {what}: {e}", case.name))?;
        }
        exec(db.client(), "ANALYZE").map_err(|e| format!("[{}] ANALYZE: {e}", case.name))?;
        Ok(db)
    }

    pub fn client(&mut self) -> &mut Client {
        self.client.as_mut().expect("open")
    }
}

impl Drop for Db<'_> {
    fn drop(&mut self) {
        drop(self.client.take());
        if let Ok(mut admin) = self.srv.connect("postgres") {
            // WITH (FORCE) is 13+; the client is closed already, so plain
            // DROP DATABASE does on older servers.
            let force = if self.srv.version >= 13 {
                " WITH (FORCE)"
            } else {
                ""
            };
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {}{force}", self.name));
        }
    }
}

/// Sends `sql` as one simple-protocol query (no transaction added).
pub fn exec(client: &mut Client, sql: &str) -> Result<(), String> {
    client.batch_execute(sql).map_err(|e| pg_error(&e))
}

pub fn query_rows(client: &mut Client, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let messages = client.simple_query(sql).map_err(|e| pg_error(&e))?;
    Ok(messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

pub fn query_row(client: &mut Client, sql: &str) -> Result<Vec<Option<String>>, String> {
    query_rows(client, sql)?
        .into_iter()
        .next()
        .ok_or_else(|| "the query returned no rows".to_string())
}

/// First column of the first row, as text (None for NULL).
pub fn query_value(client: &mut Client, sql: &str) -> Result<Option<String>, String> {
    query_row(client, sql)?
        .into_iter()
        .next()
        .ok_or_else(|| "the query returned no columns".to_string())
}

pub fn query_column(client: &mut Client, sql: &str) -> Result<Vec<String>, String> {
    Ok(query_rows(client, sql)?
        .into_iter()
        .map(|r| r.into_iter().next().flatten().unwrap_or_default())
        .collect())
}

pub fn describe_value(got: &Result<Option<String>, String>) -> String {
    match got {
        Ok(Some(v)) => format!("{v:?}"),
        Ok(None) => "NULL".to_string(),
        Err(e) => format!("error: {e}"),
    }
}

/// The server's message with everything it said about it.
pub fn pg_error(e: &postgres::Error) -> String {
    let Some(db) = e.as_db_error() else {
        return e.to_string();
    };
    let mut s = format!(
        "{}: {} (SQLSTATE {})",
        db.severity(),
        db.message(),
        db.code().code()
    );
    if let Some(d) = db.detail() {
        let _ = write!(s, "\n    DETAIL: {d}");
    }
    if let Some(h) = db.hint() {
        let _ = write!(s, "\n    HINT: {h}");
    }
    if let Some(w) = db.where_() {
        let _ = write!(s, "\n    WHERE: {w}");
    }
    s
}

pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|l| format!("{prefix}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn phase_list(plan: &Plan) -> String {
    plan.phases
        .iter()
        .map(|p| format!("{} ({})", p.id, p.kind.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}
