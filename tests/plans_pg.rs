//! The proof that every plan runs on a real PostgreSQL.
//!
//! For every change type there are cases (a starting schema, generated rows,
//! the change, the plan options and, where it matters, a simulation of the
//! application between phases). For each case the test:
//!
//! 1. loads the schema and rows into a fresh database of one shared cluster;
//! 2. builds the plan and runs every phase's `forward` steps, one `sql` at a
//!    time through the simple query protocol, then every `validation` check,
//!    then the app simulation of that phase;
//! 3. for every phase k that can be rolled back (phases 1..=k all have a
//!    rollback or nothing to roll back, and none loses data), runs forward
//!    1..=k and then the rollbacks k..=1 on a fresh copy, and requires the
//!    schema and every starting row to be exactly as they were;
//! 4. when the plan has a backfill, runs its prepared batch in the loop its
//!    `batch_loop` describes on a fresh copy and requires `completion_query`
//!    to return 0;
//! 5. checks the step rules: no `UPDATE ... LIMIT`, no `CONCURRENTLY` inside a
//!    transaction, `lock_timeout` on every step with a lock that blocks the app.
//!
//! Without PostgreSQL installed every test fails with the install instructions.
//! Each test's failure message lists every case with what went wrong (SQL and
//! PostgreSQL's message); `--nocapture` also shows the passing ones. Set
//! `SCHEMASHIFT_PLANS_DUMP=<dir>` to write each case's plan JSON there.

mod plans_support;

use std::fmt::Write as _;
use std::sync::OnceLock;

use plans_support::*;
use schemashift::change::ChangeType;
use serde_json::json;

// ---------------------------------------------------------------------------
// One test per change type
// ---------------------------------------------------------------------------

macro_rules! change_type_tests {
    ($($test:ident => $kind:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                run_change_type(ChangeType::$kind);
            }
        )*
    };
}

change_type_tests! {
    add_column => AddColumn,
    add_not_null_column => AddNotNullColumn,
    drop_column => DropColumn,
    rename_column => RenameColumn,
    change_column_type => ChangeColumnType,
    set_not_null => SetNotNull,
    drop_not_null => DropNotNull,
    set_default => SetDefault,
    add_index => AddIndex,
    drop_index => DropIndex,
    add_unique_constraint => AddUniqueConstraint,
    add_primary_key => AddPrimaryKey,
    add_foreign_key => AddForeignKey,
    add_check_constraint => AddCheckConstraint,
    split_column => SplitColumn,
    merge_columns => MergeColumns,
    move_column => MoveColumn,
    split_table => SplitTable,
    merge_tables => MergeTables,
    rename_table => RenameTable,
    drop_table => DropTable,
    create_table => CreateTable,
    enum_change => EnumChange,
    backfill_only => BackfillOnly,
}

/// The case table itself is sound: every type has cases of its own type,
/// at least one without `schema`, and names are unique.
#[test]
fn every_change_type_has_cases() {
    let mut names = std::collections::HashSet::new();
    for kind in ChangeType::ALL {
        let cases = cases(kind);
        assert!(!cases.is_empty(), "{kind}: no cases");
        assert!(
            cases.iter().any(|c| !c.with_schema),
            "{kind}: no case without schema"
        );
        for c in &cases {
            assert_eq!(
                c.change["change_type"],
                kind.as_str(),
                "case {} is filed under {kind}",
                c.name
            );
            assert!(names.insert(c.name), "case name {} is used twice", c.name);
        }
    }
}

/// The rollback comparison is not vacuous: the fingerprints see the usual
/// leftovers and ignore what a correct rollback cannot avoid.
/// A USING with no inverse (numeric price to integer cents): no phase
/// before the write switch, and no rollback from there, changes a starting
/// row's price, whatever shape the plan takes.
#[test]
fn non_invertible_using_leaves_the_old_column_alone() {
    let version = shared().version;
    let change = cases(ChangeType::ChangeColumnType)
        .into_iter()
        .find(|c| c.name == "change_column_type_using_not_invertible")
        .expect("the case")
        .change;
    let case = Case::new("using_not_invertible_price", &RETYPE, change);
    let plan = build(&case, version).unwrap();
    let switch = plan
        .phases
        .iter()
        .position(|p| p.kind.as_str() == "cutover_writes")
        .expect("a write switch");
    let changed = "SELECT count(*) FROM products p JOIN price_orig o USING (id) WHERE p.price IS DISTINCT FROM o.price";
    let mut db = Db::loaded(shared(), &case, "w2").unwrap();
    for phase in &plan.phases[..switch] {
        for step in &phase.forward {
            exec(db.client(), &step.sql).unwrap_or_else(|e| panic!("{}: {e}", phase.id));
        }
        // The live app (v1) keeps writing the old column meanwhile.
        exec(
            db.client(),
            "UPDATE products SET name = name || '.' WHERE id % 100 = 0",
        )
        .unwrap();
        let got = query_value(db.client(), changed).unwrap();
        assert_eq!(got.as_deref(), Some("0"), "prices changed by {}", phase.id);
    }
    assert!(
        plan.phases[..switch]
            .iter()
            .any(|p| p.kind.as_str() == "cutover_reads"),
        "reads move by a release of their own before writes"
    );
    for phase in plan.phases[..switch].iter().rev() {
        for step in &phase.rollback {
            exec(db.client(), &step.sql).unwrap_or_else(|e| panic!("{} rollback: {e}", phase.id));
        }
        let got = query_value(db.client(), changed).unwrap();
        assert_eq!(
            got.as_deref(),
            Some("0"),
            "prices changed by the rollback of {}",
            phase.id
        );
    }
}

/// The narrowing cases, each with a row its new type cannot hold as it is.
fn narrowing_cases() -> Vec<(Case, &'static str)> {
    let bad = |name: &str| match name {
        "change_column_type_narrow_text_to_varchar" => {
            Some("INSERT INTO profiles (bio) VALUES (repeat('x', 101))")
        }
        "change_column_type_narrow_bigint_to_integer" => {
            Some("INSERT INTO profiles (visits) VALUES (3000000000)")
        }
        "change_column_type_narrow_numeric_scale" => {
            Some("INSERT INTO profiles (balance) VALUES (1.2345)")
        }
        "change_column_type_narrow_timestamptz_to_date" => {
            Some("INSERT INTO profiles (seen_at) VALUES (timestamptz '2024-03-01 13:37:00+00')")
        }
        "change_column_type_narrow_timestamp_to_date_no_schema" => {
            Some("INSERT INTO profiles (born_at) VALUES (timestamp '1999-12-31 23:59:59')")
        }
        _ => None,
    };
    let found: Vec<(Case, &'static str)> = cases(ChangeType::ChangeColumnType)
        .into_iter()
        .filter_map(|c| bad(c.name).map(|b| (c, b)))
        .collect();
    assert_eq!(found.len(), 5, "every narrowing case is listed");
    found
}

/// Each narrowing plan opens with a gate: 0 on rows that fit, more on a
/// row that does not, and then the rollout stops before anything is written.
#[test]
fn narrowing_gates_count_values_that_do_not_fit() {
    let version = shared().version;
    for (case, bad) in narrowing_cases() {
        let plan = build(&case, version).unwrap_or_else(|e| panic!("[{}] {e}", case.name));
        let gate = &plan.phases[0];
        assert!(
            gate.title.starts_with("Gate:") && gate.forward.is_empty(),
            "[{}] first phase: {}",
            case.name,
            gate.title
        );
        let sql = &gate.validation[0].sql;
        let mut db = Db::loaded(shared(), &case, "gate").unwrap();
        assert_eq!(
            query_value(db.client(), sql).unwrap().as_deref(),
            Some("0"),
            "[{}] clean rows: {sql}",
            case.name
        );
        exec(db.client(), bad).unwrap();
        assert_eq!(
            query_value(db.client(), sql).unwrap().as_deref(),
            Some("1"),
            "[{}] after {bad}: {sql}",
            case.name
        );
        let err =
            run_phases(&case, &plan, &mut db, plan.phases.len(), true, "dirty run").unwrap_err();
        assert!(
            err.contains(&format!("phase {} (validate) validation failed", gate.id)),
            "[{}] {err}",
            case.name
        );
        let shadow = query_value(
            db.client(),
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND right(column_name, 4) = '_new'",
        )
        .unwrap();
        assert_eq!(
            shadow.as_deref(),
            Some("0"),
            "[{}] nothing is written before the gate passes",
            case.name
        );
    }
}

/// A value that arrives after the gate is cut by the cast into the shadow
/// column (the old column keeps it whole): the check that compares through
/// the old type sees it, where comparing the same cast on both sides does
/// not. A value out of range leaves the shadow NULL, which the same check sees.
#[test]
fn loss_seeing_validation_fails_when_the_cast_cuts() {
    let version = shared().version;
    for (case, bad) in narrowing_cases() {
        let plan = build(&case, version).unwrap_or_else(|e| panic!("[{}] {e}", case.name));
        let mut db = Db::loaded(shared(), &case, "loss").unwrap();
        run_phases(&case, &plan, &mut db, 3, true, "up to the backfill").unwrap();
        // The live app's write goes through: the old column takes it whole.
        exec(db.client(), bad).unwrap();
        let val = &plan.phases[3];
        assert_eq!(val.kind.as_str(), "validate", "[{}]", case.name);
        let value_of = |db: &mut Db, meaning: &str| {
            let check = val
                .validation
                .iter()
                .find(|c| c.meaning.starts_with(meaning))
                .unwrap_or_else(|| panic!("[{}] no check `{meaning}`", case.name));
            query_value(db.client(), &check.sql).unwrap()
        };
        assert_eq!(
            value_of(&mut db, "no value was cut").as_deref(),
            Some("1"),
            "[{}]",
            case.name
        );
        if case.name.ends_with("bigint_to_integer") {
            // The value cannot be cast at all: the shadow stays NULL and the
            // plain comparison fails with PostgreSQL's range error.
            continue;
        }
        assert_eq!(
            value_of(&mut db, "every row converted").as_deref(),
            Some("0"),
            "[{}] the same cast on both sides hides the cut",
            case.name
        );
    }
}

#[test]
fn fingerprints_notice_leftovers() {
    let case = Case::new("fingerprint_self_test", &ORDERS, json!({}));
    let mut db = Db::loaded(shared(), &case, "fp").unwrap_or_else(|e| panic!("{e}"));
    let c = db.client();
    let schema0 = schema_print(c).unwrap();
    let data0 = data_print(c).unwrap();
    let mut differs = |sql: &str, undo: &str| {
        exec(c, sql).unwrap();
        let changed = schema_print(c).unwrap() != schema0;
        exec(c, undo).unwrap();
        assert_eq!(schema_print(c).unwrap(), schema0, "undo of {sql}");
        changed
    };
    // Each undo must give the starting fingerprint back exactly; a dropped
    // column's attisdropped slot is not a difference.
    for (sql, undo) in [
        (
            "CREATE INDEX orders_x ON orders (note)",
            "DROP INDEX orders_x",
        ),
        (
            "ALTER TABLE orders ALTER COLUMN note SET DEFAULT 'x'",
            "ALTER TABLE orders ALTER COLUMN note DROP DEFAULT",
        ),
        (
            "ALTER TABLE orders ALTER COLUMN reference DROP NOT NULL",
            "ALTER TABLE orders ALTER COLUMN reference SET NOT NULL",
        ),
        (
            "ALTER TABLE orders ADD CONSTRAINT c CHECK (quantity > 0) NOT VALID",
            "ALTER TABLE orders DROP CONSTRAINT c",
        ),
        (
            "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$",
            "DROP FUNCTION f()",
        ),
        ("CREATE VIEW v AS SELECT id FROM orders", "DROP VIEW v"),
        (
            "ALTER TABLE customers RENAME TO clients",
            "ALTER TABLE clients RENAME TO customers",
        ),
    ] {
        assert!(differs(sql, undo), "the schema fingerprint misses: {sql}");
    }
    exec(
        c,
        "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$",
    )
    .unwrap();
    let with_fn = schema_print(c).unwrap();
    exec(
        c,
        "CREATE TRIGGER t BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION f()",
    )
    .unwrap();
    assert_ne!(
        schema_print(c).unwrap(),
        with_fn,
        "the schema fingerprint misses a trigger"
    );
    exec(c, "DROP TRIGGER t ON orders; DROP FUNCTION f()").unwrap();

    exec(c, "UPDATE orders SET note = 'changed' WHERE id = 5").unwrap();
    exec(
        c,
        "INSERT INTO orders (customer_id, reference, amount_cents) VALUES (1, 'NEW', 1)",
    )
    .unwrap();
    let data1 = data_print(c).unwrap();
    let all = compare_data(&data0, &data1, false);
    assert!(
        all.len() == 1
            && all[0].contains("1 starting row(s) changed (keys 5)")
            && all[0].contains("1 row(s) added"),
        "{all:?}"
    );
    let starting = compare_data(&data0, &data1, true);
    assert!(
        starting.len() == 1 && !starting[0].contains("added"),
        "{starting:?}"
    );
    exec(c, "UPDATE orders SET note = NULL WHERE id = 5").unwrap();
    assert!(compare_data(&data0, &data_print(c).unwrap(), true).is_empty());
}

/// The oldest PostgreSQL version plans are written for.
const OLDEST: u32 = 11;

fn run_change_type(kind: ChangeType) {
    let version = shared().version;
    let mut report = String::new();
    let mut failed = 0;
    let cases = cases(kind);
    // The oldest supported version takes other paths (no CHECK shortcut for
    // SET NOT NULL, enum values outside a transaction); its SQL runs on the
    // newer server too, so it is proven here whenever it differs.
    let runs: Vec<(&Case, u32)> = cases
        .iter()
        .flat_map(|c| {
            let differs = match (build(c, OLDEST), build(c, version)) {
                (Ok(a), Ok(b)) => {
                    serde_json::to_value(&a.phases).ok() != serde_json::to_value(&b.phases).ok()
                }
                _ => false,
            };
            std::iter::once((c, version)).chain(differs.then_some((c, OLDEST)))
        })
        .collect();
    for (case, version) in runs {
        let (errors, exercised) = run_case(shared(), case, version);
        let exercised = format!("PostgreSQL {version} plan: {exercised}");
        if errors.is_empty() {
            let _ = writeln!(report, "PASS {}: {exercised}", case.name);
        } else {
            failed += 1;
            let _ = writeln!(
                report,
                "FAIL {} ({} problem(s)): {exercised}",
                case.name,
                errors.len()
            );
            for e in &errors {
                let _ = writeln!(report, "{}\n", indent(e, "    "));
            }
        }
    }
    if failed == 0 {
        eprintln!("== {kind}: all {} case(s) pass\n{report}", cases.len());
    }
    assert!(
        failed == 0,
        "{kind}: {failed} of {} case(s) fail\n{report}",
        cases.len()
    );
}

// ---------------------------------------------------------------------------
// The shared server
// ---------------------------------------------------------------------------

/// The server all tests of this binary share, stopped when the process exits.
static SHARED: OnceLock<Result<Server, String>> = OnceLock::new();

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
}

/// Stops the shared cluster (statics are never dropped).
extern "C" fn stop_shared_cluster() {
    if let Some(Ok(server)) = SHARED.get() {
        server.stop();
    }
}

fn shared() -> &'static Server {
    let shared = SHARED.get_or_init(|| {
        let server = Server::start(None)?;
        // SAFETY: registers a plain `extern "C" fn()` with the C runtime; it
        // only takes the cluster out of its mutex and drops it.
        unsafe {
            atexit(stop_shared_cluster);
        }
        Ok(server)
    });
    match shared {
        Ok(s) => s,
        Err(e) => panic!("PostgreSQL is needed to prove the plans and could not be started:\n{e}"),
    }
}
