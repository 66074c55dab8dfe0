//! `schemashift review` on input it cannot check, as CI runs it: the real
//! binary in a scratch directory. Code migrations, unreadable `DO` blocks
//! and statements that do not parse give the verdict `unchecked` and exit
//! code 1 unless `--allow-unchecked` (or `allow_unchecked = true`) is given;
//! a directory lists the files it skipped; `DO` block bodies are reviewed.

use serde_json::Value;
use std::process::{Command, Stdio};

const EXE: &str = env!("CARGO_BIN_EXE_schemashift");

const RAILS: &str = "class AddStatusToOrders < ActiveRecord::Migration[7.1]\n  def change\n    add_column :orders, :status, :string, default: \"new\"\n  end\nend\n";

mod scratch_support;
use scratch_support::Scratch;

struct Out {
    code: i32,
    stdout: String,
}

fn review(s: &Scratch, args: &[&str]) -> Out {
    let out = Command::new(EXE)
        .arg("review")
        .args(args)
        .current_dir(s.path())
        .stdin(Stdio::null())
        .output()
        .expect("run schemashift");
    Out {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).unwrap(),
    }
}

fn json_of(out: &Out) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.stdout))
}

#[test]
fn a_rails_migration_is_unchecked_and_fails_ci_unless_allowed() {
    let s = Scratch::new("review-unchecked", "rails");
    s.write("db/migrate/20240102093000_add_status_to_orders.rb", RAILS);
    let file = "db/migrate/20240102093000_add_status_to_orders.rb";
    let out = review(&s, &["--format", "json", file]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let r = json_of(&out);
    assert_eq!(r["verdict"], "unchecked");
    let f = &r["findings"][0];
    assert_eq!(f["rule"], "unchecked-file");
    assert_eq!(f["severity"], "info");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("bin/rails db:migrate:up VERSION=20240102093000"),
        "{f}"
    );
    // The switch, the configuration key, and excluding the rule let it pass.
    assert_eq!(review(&s, &["--allow-unchecked", file]).code, 0);
    assert_eq!(review(&s, &["--exclude", "unchecked-file", file]).code, 0);
    s.write("schemashift.toml", "allow_unchecked = true\n");
    let out = review(&s, &[file]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.trim_end().ends_with("verdict: unchecked"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_directory_reviews_sql_variants_and_lists_what_it_skipped() {
    let s = Scratch::new("review-unchecked", "dir");
    s.write(
        "m/001_init.sql.postgres",
        "ALTER TABLE users RENAME COLUMN a TO b;\n",
    )
    .write(
        "m/002_more.pgsql",
        "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN c text;\n",
    )
    .write("m/002_more.down.sql", "ALTER TABLE users DROP COLUMN c;\n")
    .write("m/README.md", "# Migrations\n")
    .write("m/notes.txt", "remember\n");
    let out = review(&s, &["m"]);
    assert_eq!(
        out.code, 1,
        "the rename in .sql.postgres is read: {}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("m/001_init.sql.postgres:1:1: error[rename-column]"),
        "{}",
        out.stdout
    );
    for line in [
        "skipped: m/README.md (Markdown: name it on the command line to review it as a rollout plan)",
        "skipped: m/notes.txt (not SQL (.txt))",
        "skipped: m/002_more.down.sql (a down migration: it runs only to roll back)",
    ] {
        assert!(out.stdout.contains(line), "{line}\n{}", out.stdout);
    }
    let r = json_of(&review(&s, &["--format", "json", "m"]));
    let skipped: Vec<&str> = r["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        skipped,
        ["m/README.md", "m/notes.txt", "m/002_more.down.sql"]
    );
    let out = review(&s, &["--format", "github", "m"]);
    assert!(
        out.stdout
            .contains("schemashift: skipped m/notes.txt (not SQL (.txt))\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn sarif_regions_cover_statements_read_out_of_do_blocks() {
    let s = Scratch::new("review-unchecked", "sarif");
    s.write(
        "0050_drop.sql",
        "SET lock_timeout = '2s';\nDO $$\nBEGIN\n  ALTER TABLE accounts\n    DROP COLUMN legacy_plan;\nEND $$;\n",
    );
    let r = json_of(&review(&s, &["--format", "sarif", "0050_drop.sql"]));
    let result = r["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["ruleId"] == "drop-column")
        .expect("drop-column reported")
        .clone();
    let region = &result["locations"][0]["physicalLocation"]["region"];
    assert_eq!(
        (
            &region["startLine"],
            &region["startColumn"],
            &region["endLine"],
            &region["endColumn"]
        ),
        (
            &Value::from(4),
            &Value::from(3),
            &Value::from(5),
            &Value::from(28)
        ),
        "{region}"
    );
}

#[test]
fn statements_that_do_not_parse_never_leave_the_verdict_at_proceed() {
    let s = Scratch::new("review-unchecked", "unparsed");
    s.write(
        "limit.sql",
        "UPDATE sessions SET revoked = true LIMIT 1000;\n",
    )
    .write(
        "perl.sql",
        "DO LANGUAGE plperl $$ spi_exec_query('DROP TABLE t'); $$;\n",
    )
    .write("typo.sql", "ALTER TABEL users ADD COLUMN x int;\n");
    for file in ["limit.sql", "perl.sql", "typo.sql"] {
        let out = review(&s, &["--format", "json", file]);
        assert_eq!(
            json_of(&out)["verdict"],
            "unchecked",
            "{file}: {}",
            out.stdout
        );
        assert_eq!(out.code, 1, "{file}");
    }
    // An error still wins: stop.
    s.write(
        "both.sql",
        "UPDATE t SET a = 1 LIMIT 5;\nDROP TABLE users;\n",
    );
    assert_eq!(
        json_of(&review(&s, &["--format", "json", "both.sql"]))["verdict"],
        "stop"
    );
}

#[test]
fn do_block_statements_are_reviewed_at_their_own_lines() {
    let s = Scratch::new("review-unchecked", "do");
    s.write(
        "0042_prefs.sql",
        "SET lock_timeout = '2s';\nDO $$\nDECLARE\n  r record;\nBEGIN\n  ALTER TABLE users ALTER COLUMN prefs TYPE jsonb USING prefs::jsonb;\n  FOR r IN SELECT id FROM accounts LOOP\n    UPDATE accounts SET plan = 'free' WHERE id = r.id;\n  END LOOP;\nEND\n$$;\n",
    );
    let out = review(&s, &["0042_prefs.sql"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .contains("0042_prefs.sql:6:3: error[column-type-change-rewrite]"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "0042_prefs.sql:8:5: warning[unbatched-backfill] UPDATE on accounts in a PL/pgSQL loop"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn a_markdown_plan_is_reviewed_as_a_plan() {
    let s = Scratch::new("review-unchecked", "md");
    s.write(
        "plan.md",
        "# Rename\n\n## Phase 1: Contract\n\n```sql\nALTER TABLE users RENAME COLUMN username TO handle;\n```\n",
    )
    .write("empty.md", "# Notes\n\nNothing here.\n");
    let r = json_of(&review(&s, &["--format", "json", "plan.md"]));
    let rules: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    // The plan's rules and the SQL rules on its statements.
    assert!(rules.contains(&"plan-phase-without-rollback"), "{rules:?}");
    assert!(rules.contains(&"missing-lock-timeout"), "{rules:?}");
    assert_eq!(r["verdict"], "stop");
    let out = review(&s, &["--format", "json", "empty.md"]);
    assert_eq!(json_of(&out)["verdict"], "unchecked");
    assert_eq!(out.code, 1);
}
