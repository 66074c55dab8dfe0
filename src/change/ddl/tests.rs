use super::split::{split_with_scanner, split_with_tokenizer};
use super::*;
use crate::change::{Change, ColumnSpec, EnumOp, Fill};
use crate::context::Engine::{Mysql, Postgres};

/// Parses, checks the change validates, and returns it.
fn change(sql: &str, engine: Engine) -> Change {
    let p = parse(sql, engine).unwrap_or_else(|e| panic!("`{sql}` did not parse: {e}"));
    if let Err(e) = p.change.validate(engine) {
        panic!("`{sql}` gave {:?}, which does not validate: {e}", p.change);
    }
    p.change
}

fn pg(sql: &str) -> Change {
    change(sql, Postgres)
}

fn my(sql: &str) -> Change {
    change(sql, Mysql)
}

fn error(sql: &str) -> String {
    match parse(sql, Postgres) {
        Ok(p) => panic!("`{sql}` parsed as {:?}", p.change),
        Err(e) => e.0,
    }
}

fn s(x: &str) -> String {
    x.to_string()
}

fn col(name: &str, ty: &str) -> ColumnSpec {
    ColumnSpec {
        name: s(name),
        data_type: Some(s(ty)),
        not_null: false,
        default: None,
        primary_key: false,
        expression: None,
    }
}

fn expr(e: &str) -> Fill {
    Fill::Expression { expression: s(e) }
}

fn lookup(table: &str, column: &str, local: &str, remote: &str) -> Fill {
    Fill::Lookup {
        table: s(table),
        column: s(column),
        local_key: Some(s(local)),
        remote_key: Some(s(remote)),
    }
}

// ---- single statements, one per change type ----

#[test]
fn add_column() {
    assert_eq!(
        pg("ALTER TABLE users ADD COLUMN nickname VARCHAR(50);"),
        Change::AddColumn {
            table: s("users"),
            column: s("nickname"),
            data_type: s("varchar(50)"),
            default: None
        }
    );
    assert_eq!(
        pg("alter table billing.Invoices add paid boolean default false"),
        Change::AddColumn {
            table: s("billing.invoices"),
            column: s("paid"),
            data_type: s("boolean"),
            default: Some(s("false"))
        }
    );
}

#[test]
fn add_not_null_column_with_default() {
    let p = parse(
        "ALTER TABLE users ADD COLUMN status text NOT NULL DEFAULT 'active';",
        Postgres,
    )
    .unwrap();
    assert_eq!(
        p.change,
        Change::AddNotNullColumn {
            table: s("users"),
            column: s("status"),
            data_type: s("text"),
            default: Some(s("'active'")),
            fill: None
        }
    );
    assert!(p.notes.is_empty(), "{:?}", p.notes);
}

#[test]
fn add_not_null_column_without_value_says_so() {
    let p = parse("ALTER TABLE users ADD COLUMN tier int NOT NULL", Postgres).unwrap();
    assert_eq!(
        p.change,
        Change::AddNotNullColumn {
            table: s("users"),
            column: s("tier"),
            data_type: s("int"),
            default: None,
            fill: None
        }
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("existing rows need a value")),
        "{:?}",
        p.notes
    );
}

#[test]
fn drop_column() {
    assert_eq!(
        pg("ALTER TABLE users DROP COLUMN IF EXISTS legacy_flag"),
        Change::DropColumn {
            table: s("users"),
            column: s("legacy_flag")
        }
    );
}

#[test]
fn rename_column() {
    assert_eq!(
        pg("ALTER TABLE users RENAME COLUMN username TO handle;"),
        Change::RenameColumn {
            table: s("users"),
            column: s("username"),
            new_name: s("handle")
        }
    );
}

#[test]
fn change_column_type() {
    assert_eq!(
        pg("ALTER TABLE orders ALTER COLUMN amount TYPE BIGINT USING amount::bigint;"),
        Change::ChangeColumnType {
            table: s("orders"),
            column: s("amount"),
            from_type: None,
            to_type: s("bigint"),
            using: Some(s("amount::bigint"))
        }
    );
    assert_eq!(
        pg("ALTER TABLE orders ALTER COLUMN note SET DATA TYPE Character Varying(200)"),
        Change::ChangeColumnType {
            table: s("orders"),
            column: s("note"),
            from_type: None,
            to_type: s("character varying(200)"),
            using: None
        }
    );
}

#[test]
fn set_and_drop_not_null() {
    assert_eq!(
        pg("ALTER TABLE users ALTER COLUMN email SET NOT NULL"),
        Change::SetNotNull {
            table: s("users"),
            column: s("email")
        }
    );
    assert_eq!(
        pg("ALTER TABLE users ALTER COLUMN email DROP NOT NULL"),
        Change::DropNotNull {
            table: s("users"),
            column: s("email")
        }
    );
}

#[test]
fn set_and_drop_default() {
    assert_eq!(
        pg("ALTER TABLE users ALTER COLUMN status SET DEFAULT 'active'"),
        Change::SetDefault {
            table: s("users"),
            column: s("status"),
            default: Some(s("'active'"))
        }
    );
    assert_eq!(
        pg("ALTER TABLE users ALTER status DROP DEFAULT"),
        Change::SetDefault {
            table: s("users"),
            column: s("status"),
            default: None
        }
    );
}

#[test]
fn add_index() {
    assert_eq!(
        pg("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users USING btree (lower(email)) WHERE deleted_at IS NULL;"),
        Change::AddIndex {
            table: s("users"),
            columns: vec![s("lower(email)")],
            name: Some(s("users_email_idx")),
            unique: true,
            method: Some(s("btree")),
            predicate: Some(s("deleted_at IS NULL"))
        }
    );
    assert_eq!(
        pg("CREATE INDEX ON orders (customer_id, created_at)"),
        Change::AddIndex {
            table: s("orders"),
            columns: vec![s("customer_id"), s("created_at")],
            name: None,
            unique: false,
            method: None,
            predicate: None
        }
    );
}

#[test]
fn add_index_says_what_is_not_kept() {
    let p = parse(
        "CREATE INDEX i ON t USING gin (title gin_trgm_ops) INCLUDE (x)",
        Postgres,
    )
    .unwrap();
    assert_eq!(
        p.change,
        Change::AddIndex {
            table: s("t"),
            columns: vec![s("title")],
            name: Some(s("i")),
            unique: false,
            method: Some(s("gin")),
            predicate: None
        }
    );
    assert!(
        p.notes.iter().any(|n| n.contains("gin_trgm_ops")),
        "{:?}",
        p.notes
    );
    assert!(
        p.notes.iter().any(|n| n.contains("INCLUDE")),
        "{:?}",
        p.notes
    );
}

#[test]
fn drop_index_including_concurrently() {
    assert_eq!(
        pg("DROP INDEX users_email_idx"),
        Change::DropIndex {
            name: s("users_email_idx"),
            table: None
        }
    );
    // sqlparser 0.63 cannot parse this form: it is read from its tokens.
    assert_eq!(
        pg("DROP INDEX CONCURRENTLY IF EXISTS public.users_email_idx;"),
        Change::DropIndex {
            name: s("public.users_email_idx"),
            table: None
        }
    );
}

#[test]
fn add_unique_constraint() {
    assert_eq!(
        pg("ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email)"),
        Change::AddUniqueConstraint {
            table: s("users"),
            columns: vec![s("email")],
            name: Some(s("users_email_key"))
        }
    );
}

#[test]
fn add_primary_key() {
    assert_eq!(
        pg("ALTER TABLE events ADD PRIMARY KEY (id, created_at)"),
        Change::AddPrimaryKey {
            table: s("events"),
            columns: vec![s("id"), s("created_at")],
            name: None
        }
    );
}

#[test]
fn add_foreign_key() {
    assert_eq!(
        pg("ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE"),
        Change::AddForeignKey {
            table: s("orders"),
            columns: vec![s("customer_id")],
            references_table: s("customers"),
            references_columns: vec![s("id")],
            name: Some(s("orders_customer_fk")),
            on_delete: Some(s("cascade"))
        }
    );
}

#[test]
fn add_check_constraint() {
    assert_eq!(
        pg("ALTER TABLE orders ADD CONSTRAINT amount_positive CHECK (amount >= 0)"),
        Change::AddCheckConstraint {
            table: s("orders"),
            expression: s("amount >= 0"),
            name: Some(s("amount_positive"))
        }
    );
}

#[test]
fn rename_table() {
    assert_eq!(
        pg("ALTER TABLE accounts RENAME TO customers"),
        Change::RenameTable {
            table: s("accounts"),
            new_name: s("customers")
        }
    );
}

#[test]
fn drop_table() {
    assert_eq!(
        pg("DROP TABLE IF EXISTS old_sessions;"),
        Change::DropTable {
            table: s("old_sessions")
        }
    );
}

#[test]
fn create_table() {
    assert_eq!(
        pg("CREATE TABLE audit_log (
              id bigserial PRIMARY KEY,
              actor_id bigint NOT NULL,
              action text NOT NULL DEFAULT 'unknown',
              at timestamptz DEFAULT now()
            );"),
        Change::CreateTable {
            table: s("audit_log"),
            columns: vec![
                ColumnSpec {
                    primary_key: true,
                    ..col("id", "bigserial")
                },
                ColumnSpec {
                    not_null: true,
                    ..col("actor_id", "bigint")
                },
                ColumnSpec {
                    not_null: true,
                    default: Some(s("'unknown'")),
                    ..col("action", "text")
                },
                ColumnSpec {
                    default: Some(s("now()")),
                    ..col("at", "timestamptz")
                },
            ]
        }
    );
}

#[test]
fn create_table_with_table_primary_key_and_identity() {
    let p = parse(
        "CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY, k int, v text, PRIMARY KEY (id, k), UNIQUE (v))",
        Postgres,
    )
    .unwrap();
    assert_eq!(
        p.change,
        Change::CreateTable {
            table: s("t"),
            columns: vec![
                ColumnSpec {
                    primary_key: true,
                    ..col("id", "bigserial")
                },
                ColumnSpec {
                    primary_key: true,
                    ..col("k", "int")
                },
                col("v", "text"),
            ]
        }
    );
    assert!(
        p.notes.iter().any(|n| n.contains("bigserial")),
        "{:?}",
        p.notes
    );
    assert!(
        p.notes.iter().any(|n| n.contains("UNIQUE")),
        "{:?}",
        p.notes
    );
}

#[test]
fn enum_change() {
    assert_eq!(
        pg("ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh' AFTER 'ok';"),
        Change::EnumChange {
            type_name: s("mood"),
            operation: EnumOp::AddValue {
                value: s("meh"),
                before: None,
                after: Some(s("ok"))
            }
        }
    );
    assert_eq!(
        pg("ALTER TYPE mood ADD VALUE 'it''s' BEFORE 'sad'"),
        Change::EnumChange {
            type_name: s("mood"),
            operation: EnumOp::AddValue {
                value: s("it's"),
                before: Some(s("sad")),
                after: None
            }
        }
    );
    assert_eq!(
        pg("ALTER TYPE mood RENAME VALUE 'sad' TO 'blue'"),
        Change::EnumChange {
            type_name: s("mood"),
            operation: EnumOp::RenameValue {
                from: s("sad"),
                to: s("blue")
            }
        }
    );
}

#[test]
fn backfill_only() {
    assert_eq!(
        pg("UPDATE users SET email_lower = lower(email) WHERE email_lower IS NULL;"),
        Change::BackfillOnly {
            table: s("users"),
            column: s("email_lower"),
            fill: expr("lower(email)"),
            predicate: Some(s("email_lower IS NULL"))
        }
    );
    // The alias of the updated table is not kept: fills are over the row itself.
    assert_eq!(
        pg("UPDATE users u SET score = u.points * 2"),
        Change::BackfillOnly {
            table: s("users"),
            column: s("score"),
            fill: expr("points * 2"),
            predicate: None
        }
    );
}

#[test]
fn backfill_lookup_from_join() {
    assert_eq!(
        pg("UPDATE invoices SET org_id = a.organisation_id FROM accounts a WHERE invoices.account_id = a.id AND invoices.org_id IS NULL"),
        Change::BackfillOnly {
            table: s("invoices"),
            column: s("org_id"),
            fill: lookup("accounts", "organisation_id", "account_id", "id"),
            predicate: Some(s("org_id IS NULL"))
        }
    );
}

// ---- statements that together make one change ----

#[test]
fn add_fill_set_not_null_is_add_not_null_column() {
    let sql = "BEGIN;
        SET lock_timeout = '5s';
        -- new column for lookups
        ALTER TABLE users ADD COLUMN email_lower text;
        UPDATE users SET email_lower = lower(email);
        ALTER TABLE users ALTER COLUMN email_lower SET NOT NULL;
        COMMIT;";
    assert_eq!(
        pg(sql),
        Change::AddNotNullColumn {
            table: s("users"),
            column: s("email_lower"),
            data_type: s("text"),
            default: None,
            fill: Some(expr("lower(email)"))
        }
    );
}

#[test]
fn add_not_null_column_filled_later() {
    assert_eq!(
        pg("ALTER TABLE users ADD COLUMN score int NOT NULL DEFAULT 0; UPDATE users SET score = legacy_score;"),
        Change::AddNotNullColumn {
            table: s("users"),
            column: s("score"),
            data_type: s("int"),
            default: Some(s("0")),
            fill: Some(expr("legacy_score"))
        }
    );
}

#[test]
fn add_fill_set_default_set_not_null() {
    assert_eq!(
        pg("ALTER TABLE t ADD COLUMN n int; ALTER TABLE t ALTER COLUMN n SET DEFAULT 0; UPDATE t SET n = 0 WHERE n IS NULL; ALTER TABLE t ALTER COLUMN n SET NOT NULL;"),
        Change::AddNotNullColumn {
            table: s("t"),
            column: s("n"),
            data_type: s("int"),
            default: Some(s("0")),
            fill: Some(expr("0"))
        }
    );
}

#[test]
fn add_not_null_column_with_lookup_from_join() {
    let sql = "ALTER TABLE invoices ADD COLUMN org_id bigint;
        UPDATE invoices SET org_id = a.organisation_id FROM accounts a WHERE invoices.account_id = a.id;
        ALTER TABLE invoices ALTER COLUMN org_id SET NOT NULL;";
    assert_eq!(
        pg(sql),
        Change::AddNotNullColumn {
            table: s("invoices"),
            column: s("org_id"),
            data_type: s("bigint"),
            default: None,
            fill: Some(lookup("accounts", "organisation_id", "account_id", "id"))
        }
    );
}

#[test]
fn add_not_null_column_with_correlated_subquery() {
    let sql = "ALTER TABLE invoices ADD COLUMN org_id bigint;
        UPDATE invoices SET org_id = (SELECT organisation_id FROM accounts WHERE accounts.id = invoices.account_id);
        ALTER TABLE invoices ALTER COLUMN org_id SET NOT NULL;";
    assert_eq!(
        pg(sql),
        Change::AddNotNullColumn {
            table: s("invoices"),
            column: s("org_id"),
            data_type: s("bigint"),
            default: None,
            fill: Some(lookup("accounts", "organisation_id", "account_id", "id"))
        }
    );
}

#[test]
fn nullable_column_with_backfill_is_two_changes() {
    let e = error("ALTER TABLE users ADD COLUMN email_lower text; UPDATE users SET email_lower = lower(email);");
    assert!(e.contains("add_column and then backfill_only"), "{e}");
    assert!(e.contains("SET NOT NULL"), "{e}");
}

#[test]
fn split_column() {
    let sql = "ALTER TABLE customers ADD COLUMN street text, ADD COLUMN city text, ADD COLUMN zip varchar(10);
        UPDATE customers SET street = split_part(address, ',', 1), city = split_part(address, ',', 2), zip = split_part(address, ',', 3);
        ALTER TABLE customers DROP COLUMN address;";
    assert_eq!(
        pg(sql),
        Change::SplitColumn {
            table: s("customers"),
            column: s("address"),
            into: vec![
                ColumnSpec {
                    expression: Some(s("split_part(address, ',', 1)")),
                    ..col("street", "text")
                },
                ColumnSpec {
                    expression: Some(s("split_part(address, ',', 2)")),
                    ..col("city", "text")
                },
                ColumnSpec {
                    expression: Some(s("split_part(address, ',', 3)")),
                    ..col("zip", "varchar(10)")
                },
            ]
        }
    );
}

#[test]
fn merge_columns() {
    let sql = "ALTER TABLE users ADD COLUMN full_name text;
        UPDATE users SET full_name = first_name || ' ' || last_name;
        ALTER TABLE users DROP COLUMN first_name, DROP COLUMN last_name;";
    assert_eq!(
        pg(sql),
        Change::MergeColumns {
            table: s("users"),
            columns: vec![s("first_name"), s("last_name")],
            into: s("full_name"),
            data_type: Some(s("text")),
            expression: Some(s("first_name || ' ' || last_name"))
        }
    );
}

#[test]
fn copy_then_rename_back_is_change_column_type() {
    let sql = "ALTER TABLE orders ADD COLUMN amount_new bigint;
        UPDATE orders SET amount_new = amount;
        ALTER TABLE orders DROP COLUMN amount;
        ALTER TABLE orders RENAME COLUMN amount_new TO amount;";
    assert_eq!(
        pg(sql),
        Change::ChangeColumnType {
            table: s("orders"),
            column: s("amount"),
            from_type: None,
            to_type: s("bigint"),
            using: None
        }
    );
    let sql = "ALTER TABLE orders ADD COLUMN amount_cents bigint;
        UPDATE orders SET amount_cents = (amount * 100)::bigint;
        ALTER TABLE orders DROP COLUMN amount;
        ALTER TABLE orders RENAME amount_cents TO amount;";
    assert_eq!(
        pg(sql),
        Change::ChangeColumnType {
            table: s("orders"),
            column: s("amount"),
            from_type: None,
            to_type: s("bigint"),
            using: Some(s("(amount * 100)::bigint"))
        }
    );
}

#[test]
fn copy_and_drop_is_rename_column() {
    let p = parse(
        "ALTER TABLE users ADD COLUMN handle text; UPDATE users SET handle = username; ALTER TABLE users DROP COLUMN username;",
        Postgres,
    )
    .unwrap();
    assert_eq!(
        p.change,
        Change::RenameColumn {
            table: s("users"),
            column: s("username"),
            new_name: s("handle")
        }
    );
    assert!(
        p.notes.iter().any(|n| n.contains("keeps username's type")),
        "{:?}",
        p.notes
    );
}

#[test]
fn copy_with_conversion_and_drop_needs_two_changes() {
    let e = error("ALTER TABLE t ADD COLUMN b bigint; UPDATE t SET b = a::bigint; ALTER TABLE t DROP COLUMN a;");
    assert!(e.contains("two changes"), "{e}");
}

#[test]
fn move_column() {
    let sql = "ALTER TABLE user_settings ADD COLUMN preferences jsonb;
        UPDATE user_settings SET preferences = u.preferences FROM users u WHERE user_settings.user_id = u.id;
        ALTER TABLE users DROP COLUMN preferences;";
    assert_eq!(
        pg(sql),
        Change::MoveColumn {
            column: s("preferences"),
            from_table: s("users"),
            to_table: s("user_settings"),
            data_type: Some(s("jsonb")),
            key: Some(s("user_id"))
        }
    );
}

#[test]
fn split_table() {
    let sql = "CREATE TABLE user_billing (user_id bigint PRIMARY KEY REFERENCES users (id), plan text, card_last4 text);
        INSERT INTO user_billing (user_id, plan, card_last4) SELECT id, plan, card_last4 FROM users;
        ALTER TABLE users DROP COLUMN plan, DROP COLUMN card_last4;";
    assert_eq!(
        pg(sql),
        Change::SplitTable {
            table: s("users"),
            new_table: s("user_billing"),
            columns: vec![s("plan"), s("card_last4")],
            key: Some(s("user_id"))
        }
    );
}

#[test]
fn merge_tables() {
    let sql = "ALTER TABLE users ADD COLUMN bio text, ADD COLUMN avatar_url text;
        UPDATE users SET bio = p.bio, avatar_url = p.avatar_url FROM user_profiles p WHERE p.user_id = users.id;
        DROP TABLE user_profiles;";
    assert_eq!(
        pg(sql),
        Change::MergeTables {
            table: s("users"),
            other: s("user_profiles"),
            columns: vec![s("bio"), s("avatar_url")],
            key: Some(s("user_id"))
        }
    );
}

#[test]
fn unique_constraint_using_index() {
    let sql = "CREATE UNIQUE INDEX CONCURRENTLY users_email_uniq ON users (email);
        ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_uniq;";
    assert_eq!(
        pg(sql),
        Change::AddUniqueConstraint {
            table: s("users"),
            columns: vec![s("email")],
            name: Some(s("users_email_key"))
        }
    );
}

#[test]
fn primary_key_using_index() {
    let sql = "CREATE UNIQUE INDEX CONCURRENTLY events_pkey_idx ON events (id);
        ALTER TABLE events ADD PRIMARY KEY USING INDEX events_pkey_idx;";
    assert_eq!(
        pg(sql),
        Change::AddPrimaryKey {
            table: s("events"),
            columns: vec![s("id")],
            name: Some(s("events_pkey_idx"))
        }
    );
}

#[test]
fn foreign_key_not_valid_then_validate() {
    let sql = "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;
        ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;";
    let p = parse(sql, Postgres).unwrap();
    assert_eq!(
        p.change,
        Change::AddForeignKey {
            table: s("orders"),
            columns: vec![s("customer_id")],
            references_table: s("customers"),
            references_columns: vec![s("id")],
            name: Some(s("orders_customer_fk")),
            on_delete: None
        }
    );
    assert!(p.notes.is_empty(), "{:?}", p.notes);
}

#[test]
fn check_not_valid_then_validate() {
    let sql = "ALTER TABLE orders ADD CONSTRAINT qty_positive CHECK (qty > 0) NOT VALID;
        ALTER TABLE orders VALIDATE CONSTRAINT qty_positive;";
    assert_eq!(
        pg(sql),
        Change::AddCheckConstraint {
            table: s("orders"),
            expression: s("qty > 0"),
            name: Some(s("qty_positive"))
        }
    );
}

#[test]
fn set_not_null_through_check() {
    let sql = "ALTER TABLE users ADD CONSTRAINT email_not_null CHECK (email IS NOT NULL) NOT VALID;
        ALTER TABLE users VALIDATE CONSTRAINT email_not_null;
        ALTER TABLE users ALTER COLUMN email SET NOT NULL;
        ALTER TABLE users DROP CONSTRAINT email_not_null;";
    assert_eq!(
        pg(sql),
        Change::SetNotNull {
            table: s("users"),
            column: s("email")
        }
    );
}

// ---- MySQL ----

#[test]
fn mysql_alters() {
    assert_eq!(
        my("ALTER TABLE users ADD COLUMN nickname VARCHAR(50) NULL, ALGORITHM=INSTANT, LOCK=NONE;"),
        Change::AddColumn {
            table: s("users"),
            column: s("nickname"),
            data_type: s("varchar(50)"),
            default: None
        }
    );
    assert_eq!(
        my("ALTER TABLE `orders` MODIFY COLUMN amount BIGINT NOT NULL, ALGORITHM=INPLACE"),
        Change::ChangeColumnType {
            table: s("orders"),
            column: s("amount"),
            from_type: None,
            to_type: s("bigint"),
            using: None
        }
    );
    assert_eq!(
        my("ALTER TABLE users CHANGE COLUMN username handle VARCHAR(64)"),
        Change::RenameColumn {
            table: s("users"),
            column: s("username"),
            new_name: s("handle")
        }
    );
    assert_eq!(
        my("ALTER TABLE users RENAME COLUMN username TO handle"),
        Change::RenameColumn {
            table: s("users"),
            column: s("username"),
            new_name: s("handle")
        }
    );
    assert_eq!(
        my("ALTER TABLE users DROP COLUMN legacy"),
        Change::DropColumn {
            table: s("users"),
            column: s("legacy")
        }
    );
    assert_eq!(
        my("ALTER TABLE users ALTER COLUMN status SET DEFAULT 'active'"),
        Change::SetDefault {
            table: s("users"),
            column: s("status"),
            default: Some(s("'active'"))
        }
    );
}

#[test]
fn mysql_indexes() {
    assert_eq!(
        my("ALTER TABLE users ADD INDEX idx_email (email), ALGORITHM=INPLACE, LOCK=NONE"),
        Change::AddIndex {
            table: s("users"),
            columns: vec![s("email")],
            name: Some(s("idx_email")),
            unique: false,
            method: None,
            predicate: None
        }
    );
    assert_eq!(
        my("ALTER TABLE users ADD UNIQUE INDEX ux_email USING BTREE (email)"),
        Change::AddIndex {
            table: s("users"),
            columns: vec![s("email")],
            name: Some(s("ux_email")),
            unique: true,
            method: Some(s("btree")),
            predicate: None
        }
    );
    assert_eq!(
        my("CREATE INDEX idx_created ON orders (created_at) ALGORITHM=INPLACE LOCK=NONE"),
        Change::AddIndex {
            table: s("orders"),
            columns: vec![s("created_at")],
            name: Some(s("idx_created")),
            unique: false,
            method: None,
            predicate: None
        }
    );
    assert_eq!(
        my("DROP INDEX idx_email ON users"),
        Change::DropIndex {
            name: s("idx_email"),
            table: Some(s("users"))
        }
    );
    assert_eq!(
        my("ALTER TABLE users ADD CONSTRAINT fk_org FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE SET NULL"),
        Change::AddForeignKey {
            table: s("users"),
            columns: vec![s("org_id")],
            references_table: s("orgs"),
            references_columns: vec![s("id")],
            name: Some(s("fk_org")),
            on_delete: Some(s("set null"))
        }
    );
}

#[test]
fn mysql_rename_table_and_update_join() {
    assert_eq!(
        my("RENAME TABLE accounts TO customers"),
        Change::RenameTable {
            table: s("accounts"),
            new_name: s("customers")
        }
    );
    let sql = "ALTER TABLE invoices ADD COLUMN org_id BIGINT NULL;
        UPDATE invoices i JOIN accounts a ON i.account_id = a.id SET i.org_id = a.organisation_id;
        ALTER TABLE invoices MODIFY org_id BIGINT NOT NULL;";
    // MODIFY restates the column: read as a type change, so this is two changes.
    assert!(parse(sql, Mysql).is_err());
    let sql = "ALTER TABLE invoices ADD COLUMN org_id BIGINT NOT NULL DEFAULT 0;
        UPDATE invoices i JOIN accounts a ON i.account_id = a.id SET i.org_id = a.organisation_id;";
    assert_eq!(
        my(sql),
        Change::AddNotNullColumn {
            table: s("invoices"),
            column: s("org_id"),
            data_type: s("bigint"),
            default: Some(s("0")),
            fill: Some(lookup("accounts", "organisation_id", "account_id", "id"))
        }
    );
}

// ---- names and notes ----

#[test]
fn quoted_names_are_kept_exactly() {
    assert_eq!(
        pg(r#"ALTER TABLE "Users" RENAME COLUMN "userName" TO "user""name""#),
        Change::RenameColumn {
            table: s("\"Users\""),
            column: s("\"userName\""),
            new_name: s("\"user\"\"name\"")
        }
    );
    assert_eq!(
        my("ALTER TABLE `order` DROP COLUMN `Total`"),
        Change::DropColumn {
            table: s("order"),
            column: s("\"Total\"")
        }
    );
}

#[test]
fn skipped_statements_are_noted() {
    let p = parse(
        "COMMENT ON TABLE users IS 'people'; ALTER TABLE users DROP COLUMN x; ANALYZE users;",
        Postgres,
    )
    .unwrap();
    assert_eq!(
        p.change,
        Change::DropColumn {
            table: s("users"),
            column: s("x")
        }
    );
    assert_eq!(p.notes.len(), 2, "{:?}", p.notes);
}

#[test]
fn unparseable_statements_that_do_not_matter_are_skipped() {
    // sqlparser 0.63 fails on VACUUM ANALYZE.
    assert_eq!(
        pg("VACUUM ANALYZE users; ALTER TABLE users DROP COLUMN x;"),
        Change::DropColumn {
            table: s("users"),
            column: s("x")
        }
    );
}

// ---- errors ----

#[test]
fn empty_input_is_an_error() {
    for sql in ["", "   \n", "-- just a comment\n/* and another */;;"] {
        let e = error(sql);
        assert!(e.contains("no SQL statement"), "{e}");
    }
    let e = error("BEGIN; SET lock_timeout = '1s'; COMMIT;");
    assert!(e.contains("no schema change"), "{e}");
}

#[test]
fn garbage_is_an_error_naming_the_statement() {
    let e = error("ALTER TABLE users ADD COLUMN x int; frobnicate the users table;");
    assert!(e.contains("line 1"), "{e}");
    assert!(e.contains("frobnicate"), "{e}");
    assert!(e.contains("ALTER TABLE users ADD COLUMN email text"), "{e}");
}

#[test]
fn do_blocks_are_an_error() {
    let e = error("DO $$ BEGIN ALTER TYPE mood ADD VALUE 'x'; END $$;");
    assert!(e.contains("DO block"), "{e}");
}

#[test]
fn unrelated_changes_are_listed() {
    let e = error("ALTER TABLE users ADD COLUMN a int;\nCREATE INDEX ON orders (created_at);\nDROP TABLE old;");
    assert!(e.contains("3 separate changes"), "{e}");
    assert!(
        e.contains("add nullable column users.a int (line 1)"),
        "{e}"
    );
    assert!(
        e.contains("add index on orders (created_at) (line 2)"),
        "{e}"
    );
    assert!(e.contains("drop table old (line 3)"), "{e}");
    assert!(e.contains("one change at a time"), "{e}");
}

#[test]
fn validate_alone_is_not_a_change() {
    let e = error("ALTER TABLE orders VALIDATE CONSTRAINT fk;");
    assert!(e.contains("not a change on its own"), "{e}");
}

#[test]
fn unsupported_statements_say_what_is_accepted() {
    let e = error("CREATE VIEW v AS SELECT 1");
    assert!(e.contains("not a change schemashift plans"), "{e}");
    let e = error("ALTER TABLE t ADD COLUMN g int GENERATED ALWAYS AS (a + b) STORED");
    assert!(e.contains("generated column"), "{e}");
}

#[test]
fn never_panics_on_odd_input() {
    let odd = [
        "'",
        "\"",
        "$$",
        "$a$",
        "/*",
        "--",
        "`",
        ";;;",
        "ALTER",
        "ALTER TABLE",
        "UPDATE",
        "UPDATE t SET",
        "INSERT INTO t SELECT",
        "DROP INDEX",
        "DROP INDEX CONCURRENTLY",
        "CREATE TABLE t ()",
        "ALTER TYPE",
        "\u{0}",
        "é;ü;中文",
        "ALTER TABLE t ADD COLUMN c int DEFAULT 'unterminated",
        "UPDATE t SET (a, b) = (1, 2)",
        "UPDATE a SET x = b.y FROM b, c WHERE a.id = b.id",
    ];
    for sql in odd {
        for engine in [Postgres, Mysql] {
            let _ = parse(sql, engine);
            let _ = split_statements(sql, engine);
            let _ = looks_like_sql(sql);
        }
    }
}

// ---- looks_like_sql ----

#[test]
fn sql_is_told_from_english() {
    for sql in [
        "ALTER TABLE users ADD COLUMN x int",
        "  -- migration\n  create index on users (email)",
        "/* c */ DROP TABLE x",
        "update users set x = 1",
        "UPDATE users u SET x = 1",
        "INSERT INTO t (a) SELECT 1",
        "BEGIN; ALTER TABLE t DROP COLUMN c; COMMIT;",
        "SET lock_timeout = '5s'; ALTER TABLE t DROP COLUMN c",
        "set local statement_timeout to 0",
        "COMMENT ON TABLE t IS 'x'",
        "RENAME TABLE a TO b",
        "DO $$ BEGIN END $$",
    ] {
        assert!(looks_like_sql(sql), "{sql}");
    }
    for english in [
        "rename users.username to handle",
        "change orders.amount from integer to bigint",
        "set users.email not null",
        "set default of users.status to 'active'",
        "drop column users.legacy",
        "add column users.nickname text",
        "update the users table",
        "",
    ] {
        assert!(!looks_like_sql(english), "{english}");
    }
}

// ---- split_statements ----

fn texts(sql: &str, engine: Engine) -> Vec<String> {
    split_statements(sql, engine)
        .into_iter()
        .map(|s| s.text)
        .collect()
}

#[test]
fn split_keeps_strings_comments_and_dollar_quotes_whole() {
    let sql = "INSERT INTO t VALUES ('a;b', E'it\\'s;', \"c;d\");
-- a comment; with a semicolon
/* block; /* nested; */ still comment; */
CREATE FUNCTION f() RETURNS void AS $body$ BEGIN PERFORM 1; END $body$ LANGUAGE plpgsql;
DO $$ BEGIN RAISE NOTICE 'x;y'; END $$;
SELECT $1, a$$b FROM t";
    assert_eq!(
        texts(sql, Postgres),
        vec![
            "INSERT INTO t VALUES ('a;b', E'it\\'s;', \"c;d\")",
            "CREATE FUNCTION f() RETURNS void AS $body$ BEGIN PERFORM 1; END $body$ LANGUAGE plpgsql",
            "DO $$ BEGIN RAISE NOTICE 'x;y'; END $$",
            "SELECT $1, a$$b FROM t",
        ]
    );
}

#[test]
fn split_reports_line_column_and_offset_of_first_token() {
    let sql = "BEGIN;\n  -- note\n  ALTER TABLE t\n    ADD c int;  UPDATE t SET c = 1;\n\n";
    let st = split_statements(sql, Postgres);
    assert_eq!(st.len(), 3);
    assert_eq!((st[0].line, st[0].column, st[0].byte_offset), (1, 1, 0));
    assert_eq!(st[1].text, "ALTER TABLE t\n    ADD c int");
    assert_eq!((st[1].line, st[1].column), (3, 3));
    assert_eq!(&sql[st[1].byte_offset..st[1].byte_offset + 5], "ALTER");
    assert_eq!((st[2].line, st[2].column), (4, 17));
    assert_eq!(st[2].text, "UPDATE t SET c = 1");
    // Columns count characters, offsets count bytes.
    let st = split_statements("SELECT 'é'; DROP TABLE t", Postgres);
    assert_eq!((st[1].line, st[1].column, st[1].byte_offset), (1, 13, 13));
}

#[test]
fn split_keeps_begin_atomic_bodies_whole() {
    let sql = "CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN a > 0 THEN 1 ELSE 0 END; SELECT 2; END; DROP TABLE t;";
    assert_eq!(
        texts(sql, Postgres),
        vec![
            "CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN a > 0 THEN 1 ELSE 0 END; SELECT 2; END",
            "DROP TABLE t",
        ]
    );
    // A transaction's BEGIN is not a body.
    assert_eq!(
        texts("BEGIN; DROP TABLE t; END;", Postgres),
        vec!["BEGIN", "DROP TABLE t", "END"]
    );
}

#[test]
fn split_survives_an_unterminated_string() {
    let sql = "ALTER TABLE t DROP COLUMN a;\nUPDATE t SET b = 'oops;\nDROP TABLE t;";
    let st = split_statements(sql, Postgres);
    assert_eq!(st.len(), 2);
    assert_eq!(st[0].text, "ALTER TABLE t DROP COLUMN a");
    assert_eq!(st[1].text, "UPDATE t SET b = 'oops;\nDROP TABLE t;");
    assert_eq!((st[1].line, st[1].column), (2, 1));
    let st = split_statements("SELECT 1; SELECT $x$ never closed; ", Postgres);
    assert_eq!(st.len(), 2);
    let st = split_statements("SELECT 1; /* never closed ;", Postgres);
    assert_eq!(st.len(), 1);
}

#[test]
fn split_follows_mysql_quoting() {
    let sql = "UPDATE t SET a = 'it\\'s; fine', b = \"x;\\\"y\"; # hash comment; here\nALTER TABLE `we;ird` DROP COLUMN c; -- dash comment;\nDROP TABLE $t";
    assert_eq!(
        texts(sql, Mysql),
        vec![
            "UPDATE t SET a = 'it\\'s; fine', b = \"x;\\\"y\"",
            "ALTER TABLE `we;ird` DROP COLUMN c",
            "DROP TABLE $t",
        ]
    );
}

#[test]
fn tokenizer_and_scanner_split_alike() {
    let scripts = [
        "INSERT INTO t VALUES ('a;b', E'it\\'s;', \"c;d\"); -- x;\nSELECT 1",
        "/* a /* b */ c; */ SELECT 1; SELECT 2",
        "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; SELECT $1; SELECT $tag$ ; $tag$",
        "CREATE PROCEDURE p() BEGIN ATOMIC SELECT 1; END; BEGIN; COMMIT",
        "SELECT 'é;ü'; SELECT \"x\"\"y;\"; \n\r\n  SELECT 3  ;",
        "DO $$BEGIN NULL; END$$; ALTER TABLE t ADD COLUMN c text DEFAULT 'a''b;';",
        "select e'\\\\'; select 'x'",
        ";;; ; SELECT 1 ;;",
        "SELECT a$b$c, $$x$$ FROM t; SELECT 1",
    ];
    for sql in scripts {
        assert_eq!(
            split_with_tokenizer(sql, Postgres),
            Some(split_with_scanner(sql, Postgres)),
            "{sql}"
        );
    }
    let mysql = [
        "UPDATE t SET a = 'it\\'s; fine', b = \"x;\\\"y\"; # c;\nSELECT 1",
        "SELECT `a;b`, `c``d;`; -- c;\nSELECT 2;--x\nSELECT 3",
        "SELECT $$a; SELECT @x;",
    ];
    for sql in mysql {
        assert_eq!(
            split_with_tokenizer(sql, Mysql),
            Some(split_with_scanner(sql, Mysql)),
            "{sql}"
        );
    }
}

#[test]
fn large_scripts_split_quickly_and_correctly() {
    let unit = "-- step; one\nALTER TABLE users ADD COLUMN email_lower text DEFAULT 'a;b';\nCREATE FUNCTION f() RETURNS void AS $$ BEGIN PERFORM 1; END $$ LANGUAGE plpgsql;\nUPDATE users SET x = lower(email) WHERE id BETWEEN 1 AND 1000; /* c ; */\n";
    let script = unit.repeat(2 * 1024 * 1024 / unit.len() + 1);
    let started = std::time::Instant::now();
    let st = split_statements(&script, Postgres);
    let took = started.elapsed();
    assert_eq!(st.len(), 3 * (2 * 1024 * 1024 / unit.len() + 1));
    assert!(st
        .iter()
        .all(|s| !s.text.ends_with(';') && !s.text.starts_with("--")));
    let last = st
        .last()
        .map(|s| &script[s.byte_offset..s.byte_offset + s.text.len()]);
    assert_eq!(
        last,
        Some("UPDATE users SET x = lower(email) WHERE id BETWEEN 1 AND 1000")
    );
    // Timing only means something with optimisations on.
    if !cfg!(debug_assertions) {
        assert!(took.as_millis() < 50, "2 MB took {took:?}");
    }
}

/// Scripts built from lexically awkward fragments: nothing panics, and
/// wherever the tokenizer accepts the text both splitters agree.
#[test]
fn fuzzed_scripts_split_alike_and_never_panic() {
    const FRAGMENTS: &[&str] = &[
        "'",
        "\"",
        "`",
        "$",
        "$$",
        "$a$",
        "--",
        "-- ",
        "#",
        "/*",
        "*/",
        ";",
        "\n",
        " ",
        "e'",
        "E'",
        "\\",
        "a",
        "b1",
        "BEGIN",
        "ATOMIC",
        "END",
        "CASE",
        "CREATE",
        "é",
        "中",
        "\r\n",
        "'x'",
        "1",
        ".",
        "(",
        ")",
        ",",
        "=",
        "\u{a0}",
        "@",
        "x$",
        "$1",
        "::",
        "ALTER TABLE t ADD COLUMN c int",
        "UPDATE t SET c = 1",
        "DROP INDEX",
    ];
    let mut seed: u64 = 0x5eed;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        usize::try_from(seed >> 33).unwrap_or(0) % n
    };
    for _ in 0..3000 {
        let len = 1 + next(24);
        let sql: String = (0..len).map(|_| FRAGMENTS[next(FRAGMENTS.len())]).collect();
        for engine in [Postgres, Mysql] {
            // sqlparser lexes `#--` or `@--` as an operator (`#-`, `@-`) and a
            // minus; the databases (and the scanner) start a comment at any
            // `--` or `/*`, even right after operator characters.
            // It also takes any character after a MySQL `@` into a word, even
            // `;` or a line break, and `@@` runs on into a backquoted name.
            let odd_at = engine == Mysql
                && sql.match_indices('@').any(|(i, _)| {
                    sql[i + 1..]
                        .chars()
                        .next()
                        .is_some_and(|c| !(c.is_alphanumeric() || "_$ ".contains(c)))
                });
            let comparable = !odd_at
                && !["--", "/*"].iter().any(|c| {
                    sql.match_indices(c).any(|(i, _)| {
                        sql[..i]
                            .chars()
                            .next_back()
                            .is_some_and(|p| "~!@#%^&|`?<>=+*/".contains(p))
                    })
                });
            let scanned = split_with_scanner(&sql, engine);
            if let Some(tokenized) = split_with_tokenizer(&sql, engine).filter(|_| comparable) {
                assert_eq!(tokenized, scanned, "{engine:?}: {sql:?}");
            }
            for st in &scanned {
                assert_eq!(
                    sql.get(st.byte_offset..st.byte_offset + st.text.len()),
                    Some(st.text.as_str())
                );
            }
            let _ = parse(&sql, engine);
            let _ = looks_like_sql(&sql);
        }
    }
}

#[test]
fn psql_commands_are_skipped_not_the_statement_after_them() {
    let p = parse(
        "\\set ON_ERROR_STOP on\n\\timing\n  ALTER TABLE users DROP COLUMN legacy;",
        Postgres,
    )
    .unwrap();
    assert_eq!(
        p.change,
        Change::DropColumn {
            table: s("users"),
            column: s("legacy")
        }
    );
    assert_eq!(p.notes.len(), 2, "{:?}", p.notes);
}
