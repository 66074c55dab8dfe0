//! One worked example per change type, as a user would type it and as the
//! naive DDL they would have written. The README, the benchmarks and the
//! tests all use these, so they stay in step with the parsers.

use super::ChangeType;

/// A change request in words and in SQL, and the type both must classify to.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    pub change_type: ChangeType,
    pub request: &'static str,
    pub sql: &'static str,
}

const fn ex(change_type: ChangeType, request: &'static str, sql: &'static str) -> Example {
    Example {
        change_type,
        request,
        sql,
    }
}

/// Every change type at least once; the first examples are the requests
/// users type most often.
pub const EXAMPLES: &[Example] = &[
    ex(ChangeType::RenameColumn, "rename users.username to handle", "ALTER TABLE users RENAME COLUMN username TO handle;"),
    ex(ChangeType::ChangeColumnType, "change orders.amount from integer to bigint", "ALTER TABLE orders ALTER COLUMN amount TYPE bigint;"),
    ex(
        ChangeType::AddNotNullColumn,
        "add non-null org_id to invoices from accounts.organisation_id",
        "ALTER TABLE invoices ADD COLUMN org_id bigint;\nUPDATE invoices SET org_id = a.organisation_id FROM accounts a WHERE invoices.account_id = a.id;\nALTER TABLE invoices ALTER COLUMN org_id SET NOT NULL;",
    ),
    ex(
        ChangeType::SplitColumn,
        "split customers.address into street, city, zip",
        "ALTER TABLE customers ADD COLUMN street text, ADD COLUMN city text, ADD COLUMN zip text;\nUPDATE customers SET street = split_part(address, ',', 1), city = split_part(address, ',', 2), zip = split_part(address, ',', 3);\nALTER TABLE customers DROP COLUMN address;",
    ),
    ex(ChangeType::SetNotNull, "make users.email required", "ALTER TABLE users ALTER COLUMN email SET NOT NULL;"),
    ex(ChangeType::AddIndex, "add unique index on users.email", "CREATE UNIQUE INDEX users_email_key ON users (email);"),
    ex(
        ChangeType::MoveColumn,
        "move preferences from users into user_settings",
        "ALTER TABLE user_settings ADD COLUMN preferences jsonb;\nUPDATE user_settings SET preferences = u.preferences FROM users u WHERE user_settings.user_id = u.id;\nALTER TABLE users DROP COLUMN preferences;",
    ),
    ex(
        ChangeType::ChangeColumnType,
        "widen users.display_name from varchar(100) to varchar(255)",
        "ALTER TABLE users ALTER COLUMN display_name TYPE varchar(255);",
    ),
    ex(ChangeType::EnumChange, "add 'refunded' to the order_status enum after 'paid'", "ALTER TYPE order_status ADD VALUE 'refunded' AFTER 'paid';"),
    ex(ChangeType::AddColumn, "add column users.nickname text", "ALTER TABLE users ADD COLUMN nickname text;"),
    ex(ChangeType::DropColumn, "drop column users.legacy_flag", "ALTER TABLE users DROP COLUMN legacy_flag;"),
    ex(ChangeType::DropNotNull, "make users.phone optional", "ALTER TABLE users ALTER COLUMN phone DROP NOT NULL;"),
    ex(ChangeType::SetDefault, "set default of users.active to true", "ALTER TABLE users ALTER COLUMN active SET DEFAULT true;"),
    ex(ChangeType::DropIndex, "drop index users_email_idx", "DROP INDEX users_email_idx;"),
    ex(
        ChangeType::AddUniqueConstraint,
        "add unique constraint on users.email",
        "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
    ),
    ex(ChangeType::AddPrimaryKey, "add primary key on events(id)", "ALTER TABLE events ADD PRIMARY KEY (id);"),
    ex(
        ChangeType::AddForeignKey,
        "add foreign key from orders.customer_id to customers.id",
        "ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id);",
    ),
    ex(
        ChangeType::AddCheckConstraint,
        "add check constraint on orders: amount >= 0",
        "ALTER TABLE orders ADD CONSTRAINT orders_amount_check CHECK (amount >= 0);",
    ),
    ex(
        ChangeType::MergeColumns,
        "merge users.first_name and users.last_name into full_name",
        "ALTER TABLE users ADD COLUMN full_name text;\nUPDATE users SET full_name = first_name || ' ' || last_name;\nALTER TABLE users DROP COLUMN first_name, DROP COLUMN last_name;",
    ),
    ex(
        ChangeType::SplitTable,
        "split card_last4, card_brand out of users into user_billing",
        "CREATE TABLE user_billing (user_id bigint PRIMARY KEY REFERENCES users (id), card_last4 text, card_brand text);\nINSERT INTO user_billing (user_id, card_last4, card_brand) SELECT id, card_last4, card_brand FROM users;\nALTER TABLE users DROP COLUMN card_last4, DROP COLUMN card_brand;",
    ),
    ex(
        ChangeType::MergeTables,
        "merge bio, avatar_url from user_profiles into users",
        "ALTER TABLE users ADD COLUMN bio text, ADD COLUMN avatar_url text;\nUPDATE users SET bio = p.bio, avatar_url = p.avatar_url FROM user_profiles p WHERE p.user_id = users.id;\nDROP TABLE user_profiles;",
    ),
    ex(ChangeType::RenameTable, "rename table audit_log to audit_events", "ALTER TABLE audit_log RENAME TO audit_events;"),
    ex(ChangeType::DropTable, "drop table audit_log", "DROP TABLE audit_log;"),
    ex(
        ChangeType::CreateTable,
        "create table widgets (id bigint primary key, name text not null)",
        "CREATE TABLE widgets (id bigint PRIMARY KEY, name text NOT NULL);",
    ),
    ex(ChangeType::BackfillOnly, "backfill users.email_lower with lower(email)", "UPDATE users SET email_lower = lower(email);"),
];
