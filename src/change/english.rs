//! English requests ("rename users.username to handle") -> [`Change`].
//!
//! A request is first tidied (mode word, politeness, trailing punctuation,
//! smart quotes, runs of spaces), then tried against [`RULES`] in order: the
//! first rule whose pattern matches and whose slots read cleanly wins. Slots
//! (a column, a column list, a type, a column definition) are read by small
//! helpers, so every rule accepts the same ways of naming things:
//! `users.email`, `billing.users.email`, `email on users`, `users(email)`.
//!
//! Whatever the parser fills in by itself (a type, a join key, a referenced
//! column) is said in [`Parsed::notes`]; whatever it cannot read is an error
//! that names the part it did not understand.

use super::{singular, Change, ColumnSpec, EnumOp, Fill, Parsed};
use crate::context::Engine;
use crate::ident::split_dotted;
use crate::sqltext::parse_type;
use regex::{Captures, Regex, RegexBuilder};
use std::sync::LazyLock;

/// A pattern compiled once, where it is used.
macro_rules! re {
    ($p:expr) => {{
        static RE: LazyLock<Regex> = LazyLock::new(|| compile($p));
        &*RE
    }};
}

/// A request the parser could not read, with the forms it does read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("could not understand the request `{}`: {reason}\n\naccepted forms:\n{}", crate::report::echo(request), ACCEPTED_FORMS.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n"))]
pub struct RequestError {
    pub request: String,
    pub reason: String,
}

/// One example per accepted shape of request.
pub const ACCEPTED_FORMS: &[&str] = &[
    "rename users.username to handle",
    "rename column username on users to handle",
    "rename username to handle in users",
    "rename table users to accounts",
    "change orders.amount from integer to bigint",
    "change the type of orders.amount to numeric(12,2) using amount::numeric(12,2)",
    "make orders.amount a bigint",
    "add users.nickname text",
    "add nickname text default 'anon' to users",
    "add required column status text default 'new' to orders",
    "add non-null org_id to invoices from accounts.organisation_id",
    "add a non-nullable column invoices.org_id bigint filled with 0",
    "drop column users.legacy_flag",
    "remove column legacy_flag from users",
    "drop table audit_log",
    "make users.email required",
    "users.email must not be null",
    "make users.email nullable",
    "allow nulls in users.email",
    "set default of users.active to true",
    "drop default on users.active",
    "add unique index on users (lower(email))",
    "create index orders_customer_idx on orders (customer_id, created_at) where deleted_at is null",
    "add gin index on docs.body",
    "index orders.customer_id",
    "drop index users_email_idx",
    "add unique constraint on users.email",
    "make users.email unique",
    "add primary key on events(id)",
    "make events.id the primary key",
    "add foreign key from orders.customer_id to customers.id on delete cascade",
    "orders.customer_id references customers(id)",
    "add check constraint on orders: amount >= 0",
    "add check amount >= 0 to orders",
    "orders.amount must be >= 0",
    "split customers.address into street, city and zip",
    "merge users.first_name and users.last_name into full_name",
    "combine first_name, last_name on users into full_name as first_name || ' ' || last_name",
    "move preferences from users into user_settings",
    "split columns (card_last4, card_brand) out of users into user_billing",
    "move users columns card_last4, card_brand into a new table user_billing",
    "merge bio, avatar_url from user_profiles into users",
    "create table audit_log (id bigint primary key, payload jsonb not null, created_at timestamptz default now())",
    "add 'refunded' to the order_status enum after 'paid'",
    "rename enum value 'pending' to 'awaiting' in order_status",
    "remove 'legacy' from the order_status enum",
    "backfill users.email_lower with lower(email) where email_lower is null",
    "recompute orders.total as price * quantity",
];

/// English requests are one sentence; anything longer is a pasted script,
/// and bounding it keeps the pattern table from scanning megabytes.
const MAX_REQUEST_BYTES: usize = 4096;

/// Reads an English change request.
pub fn parse(text: &str) -> Result<Parsed, RequestError> {
    let fail = |reason: String| RequestError {
        request: text.trim().to_string(),
        reason,
    };
    if text.len() > MAX_REQUEST_BYTES {
        return Err(fail(format!(
            "the request is {} bytes; an English request is one sentence (at most {MAX_REQUEST_BYTES} bytes). Pass DDL as `sql` instead",
            text.len()
        )));
    }
    let request = tidy(text);
    if request.is_empty() {
        return Err(fail("the request is empty: say which change to plan, e.g. `rename users.username to handle`".into()));
    }
    let mut first_reason = None;
    for (pattern, build) in RULES.iter() {
        if let Some(caps) = pattern.captures(&request) {
            match build(&caps) {
                Ok(parsed) => return Ok(parsed),
                Err(reason) => {
                    first_reason.get_or_insert(reason);
                }
            }
        }
    }
    Err(fail(unmatched_reason(&request, first_reason)))
}

// ---------------------------------------------------------------------------
// Tidying the request

/// Smart quotes to plain ones, whitespace runs to one space (outside quotes),
/// leading mode words and politeness off, trailing punctuation off.
fn tidy(text: &str) -> String {
    let plain: String = text
        .chars()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' => '\'',
            '\u{201c}' | '\u{201d}' => '"',
            _ => c,
        })
        .collect();
    let mut s = collapse_spaces(&plain);
    loop {
        let before = s.len();
        if let Some(m) = re!(r"(?:/?migrate plan|/migrate|/?plan|please|pls|kindly|can you|could you|would you|i want to|i'd like to|i would like to|i need to|we need to|we want to|we should|let's|lets|go ahead and|help me)(?: ?: ?| |$)(?P<rest>.*)").captures(&s) {
            s = m["rest"].to_string();
        }
        s = s
            .trim_end_matches(['.', '!', '?', ';', ',', ' '])
            .to_string();
        if let Some(m) = re!(r"(?P<rest>.*?),? (?:please|pls|thanks|thank you)").captures(&s) {
            s = m["rest"].to_string();
        }
        if s.len() == before {
            return s;
        }
    }
}

/// Collapses whitespace runs outside quotes to one space, so the patterns
/// can spell separators as a single space; quoted text is kept verbatim.
fn collapse_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut quote: Option<char> = None;
    let mut pending_space = false;
    for c in s.chars() {
        if quote.is_none() && c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        match quote {
            Some(q) if c == q => quote = None,
            None if matches!(c, '\'' | '"' | '`') => quote = Some(c),
            _ => {}
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------
// Patterns

/// Pattern fragments, spliced in by name. `{col}` is one column in any of the
/// accepted spellings; `{colf}` also accepts `email from users`, for verbs
/// where "from" cannot mean a type or a value (drop, move, split).
const FRAGMENTS: &[(&str, &str)] = &[
    (
        "{colf}",
        r"(?:(?:the )?(?:column |field )?{id}(?: column| field)? (?:on|in|of|from) (?:the )?(?:table )?{tbl}(?: table)?|{tbl} ?\( ?{id} ?\)|(?:the )?(?:column |field )?{q}(?: column| field)?)",
    ),
    (
        "{col}",
        r"(?:(?:the )?(?:column |field )?{id}(?: column| field)? (?:on|in|of) (?:the )?(?:table )?{tbl}(?: table)?|{tbl} ?\( ?{id} ?\)|(?:the )?(?:column |field )?{q}(?: column| field)?)",
    ),
    ("{q}", r"{id}(?:\.{id}){0,2}"),
    ("{tbl}", r"{id}(?:\.{id})?"),
    (
        "{id}",
        r#"(?-i:"(?:[^"]|"")+"|`(?:[^`]|``)+`|[A-Za-z_\x{80}-\x{10FFFF}][A-Za-z0-9_$\x{80}-\x{10FFFF}]*)"#,
    ),
    (
        "{val}",
        r#"(?-i:'(?:[^']|'')*'|"(?:[^"]|"")*"|[A-Za-z0-9_\x{80}-\x{10FFFF}][A-Za-z0-9_\-\x{80}-\x{10FFFF}]*)"#,
    ),
];

/// Compiles a pattern anchored at both ends, case-insensitive.
fn compile(pattern: &str) -> Regex {
    let mut p = pattern.to_string();
    for (name, fragment) in FRAGMENTS {
        p = p.replace(name, fragment);
    }
    RegexBuilder::new(&format!("^(?:{p})$"))
        .case_insensitive(true)
        .build()
        .unwrap_or_else(|e| panic!("pattern `{pattern}` does not compile: {e}"))
}

type Build = fn(&Captures<'_>) -> Result<Parsed, String>;

/// Verbs that change a column's type.
const TYPE_VERBS: &str = "change|alter|convert|widen|narrow|migrate|modify|switch|cast|retype|turn|extend|expand|shrink|increase|grow|upgrade|promote|bump";

/// Every accepted shape, most specific first: enum values before columns
/// (`add 'x' to t`), indexes and constraints before plain `add`, `make X
/// required/unique/the primary key` before `make X a bigint`, and the
/// `X must be ...` forms last.
static RULES: LazyLock<Vec<(Regex, Build)>> = LazyLock::new(|| {
    let type_change = format!(
        r"(?P<verb>{TYPE_VERBS}) (?:the )?(?:column )?(?P<col>{{col}})(?:'s)?(?P<kw> (?:column |data )?type)?(?: from (?:an? )?(?P<from>.+?))? (?:to|into|as) (?:an? )?(?:type )?(?P<to>.+?)(?: instead of (?:an? )?(?P<from2>.+?))?(?: using (?P<using>.+))?"
    );
    let type_of = format!(
        r"(?:{TYPE_VERBS}|set|make|update) (?:the )?(?:data |column )?type of (?P<col>{{col}})(?: from (?:an? )?(?P<from>.+?))? (?:to|into|as|=) (?:an? )?(?:type )?(?P<to>.+?)(?: instead of (?:an? )?(?P<from2>.+?))?(?: using (?P<using>.+))?"
    );
    let table: Vec<(String, Build)> = vec![
        // Enum values.
        (r"(?:add|append|insert|introduce) (?:the |a )?(?:new )?(?P<kw>(?:enum )?(?:value|label|option|variant) )?(?P<v>{val})(?: (?P<pos0>before|after) (?P<p0>{val}))? (?:to|in|into|on) (?:the )?(?P<e1>enum (?:type )?|type )?(?P<t>{tbl})(?P<e2> enum(?: type)?| type)?(?: (?P<pos>before|after) (?P<p>{val}))?".into(), enum_add),
        (r"(?:extend|expand) (?:the )?(?P<e1>enum (?:type )?)?(?P<t>{tbl})(?P<e2> enum(?: type)?)? with (?:the |a )?(?:new )?(?P<kw>(?:value|label|option|variant) )?(?P<v>{val})(?: (?P<pos>before|after) (?P<p>{val}))?".into(), enum_add),
        (r"(?:rename|change|relabel) (?:the )?(?P<kw>(?:enum )?(?:value|label|option|variant) )?(?P<from>{val}) (?:to|as|->|=>|into) (?P<to>{val}) (?:in|of|on|for) (?:the )?(?P<e1>enum (?:type )?|type )?(?P<t>{tbl})(?P<e2> enum(?: type)?| type)?".into(), enum_rename),
        (r"(?:remove|drop|delete|retire) (?:the )?(?P<kw>(?:enum )?(?:value|label|option|variant) )?(?P<v>{val}) from (?:the )?(?P<e1>enum (?:type )?|type )?(?P<t>{tbl})(?P<e2> enum(?: type)?| type)?(?:,? (?:replacing it with|replaced (?:by|with)|and (?:move|map|migrate|replace|change) (?:its rows |rows |it |them )?(?:to|with)|mapping (?:its rows |rows |it )?to|moving (?:its rows |rows )?to|with replacement) (?P<r>{val}))?".into(), enum_remove),
        // Database objects that are not tables, columns, indexes or enum values.
        (r"(?:create|add|make|build|drop|remove|delete|alter|rename) (?:an? |the )?(?:new )?(?P<what>database|schema|role|user|extension|view|materialized view|function|procedure|trigger|sequence|tablespace|publication|subscription|policy)\b.*".into(), other_object),
        // New tables.
        (r"(?:create|add|make|build|new|define) (?:an? |the )?(?:new )?table(?: if not exists)? (?:called |named )?(?P<t>{tbl})(?P<rest>(?: |\().*)?".into(), create_table),
        (r"(?:create|add|make|build|define) (?:an? |the )?(?:new )?(?P<t>{tbl}) table(?P<rest> .*)?".into(), create_table),
        // Indexes.
        (r"(?:drop|remove|delete|get rid of) (?:the )?index(?: concurrently)?(?: if exists)? (?P<n>{tbl})(?: (?:on|from|of) (?:the )?(?:table )?(?P<t>{tbl})(?: table)?)?".into(), drop_index),
        (r"(?:drop|remove|delete|get rid of) (?:the )?(?P<n>{tbl}) index(?: (?:on|from|of) (?:the )?(?:table )?(?P<t>{tbl})(?: table)?)?".into(), drop_index),
        (r"(?:drop|remove|delete|get rid of) (?:the |an? )?(?:unique )?index (?:on|for|of|over) .+".into(), drop_index_unnamed),
        (r"(?:add|create|build|make|put) (?:an? |the )?(?:new )?(?P<u1>unique )?(?:(?P<m1>btree|b-tree|hash|gin|gist|brin|spgist|sp-gist) )?(?P<u2>unique )?index(?: concurrently)?(?: if not exists)?(?: (?:named |called )?(?P<name>{id}))?(?: using (?P<m2>[\w-]+))? (?:on|for|over|to) (?P<target>.+?)(?: using (?P<m3>[\w-]+))?(?: (?:named|called) (?P<name2>{id}))?(?: where (?P<pred>.+))?".into(), add_index),
        (r"index (?P<target>.+?)(?: using (?P<m3>[\w-]+))?(?: (?:named|called) (?P<name2>{id}))?(?: where (?P<pred>.+))?".into(), add_index),
        // Constraints we do not plan.
        (r"(?:drop|remove|delete|get rid of) (?:the )?(?:unique |check |foreign key |primary key |fk |pk )?(?:constraint|key) .+".into(), drop_constraint),
        // Unique constraints.
        (r"(?:add|create|put) (?:an? |the )?unique(?:ness)?(?: constraint| key)?(?: (?:named |called )?(?P<name>{id}))? (?:on|to|for|over|across) (?P<cols>.+?)(?: (?:named|called) (?P<name2>{id}))?".into(), add_unique),
        (r"(?:make|mark|set|declare) (?P<cols>.+?) (?:to be |as )?unique(?: together| as a pair| in combination)?".into(), add_unique),
        (r"(?P<cols>.+?) (?:must|should|has to|have to|needs to|need to|shall) be unique(?: together)?".into(), add_unique),
        (r"(?:enforce|ensure|require|guarantee) (?:the )?uniqueness (?:on|of|for|across) (?P<cols>.+)".into(), add_unique),
        (r"(?:enforce|ensure|require|guarantee)(?: that)? (?P<cols>.+?) (?:is|are|stays?) unique(?: together)?".into(), add_unique),
        // Primary keys.
        (r"(?:add|create|set|define|put) (?:an? |the )?(?:primary key|primary-key|pk)(?: constraint)?(?: (?:named |called )?(?P<name>{id}))? (?:on|to|for|of) (?P<cols>.+?)(?: (?:named|called) (?P<name2>{id}))?".into(), add_primary_key),
        (r"(?:make|mark|set|use|declare) (?P<cols>.+?) (?:as )?(?:the |a |its )?(?:primary key|pk)".into(), add_primary_key),
        (r"(?P<cols>.+?) (?:should|must|will|has to|needs to) be (?:the |a |its )?(?:primary key|pk)".into(), add_primary_key),
        // Foreign keys.
        (r"(?:add|create|define|set up|put) (?:an? |the )?(?:foreign key|foreign-key|fk|reference|relation|relationship)(?: constraint)?(?: (?:named|called) (?P<name>{id}))? (?:from |on |for )?(?P<src>.+?) (?:to|references|referencing|->|=>|pointing to|pointing at|that references|which references) (?P<dst>.+)".into(), add_foreign_key),
        (r"(?:make|turn|declare) (?P<src>.+?) (?:into )?(?:an? |the )?(?:foreign key|fk|reference) (?:to|on|referencing|into|for|pointing to|pointing at) (?P<dst>.+)".into(), add_foreign_key),
        (r"(?:link|connect|tie) (?P<src>.+?) (?:to|with) (?P<dst>.+)".into(), add_foreign_key),
        (r"(?P<src>.+?) (?:references|should reference|must reference|refers to|should refer to|points to|should point to|->|is a foreign key to|should be a foreign key to|is an fk to) (?P<dst>.+)".into(), add_foreign_key),
        // Check constraints.
        (r"(?:add|create|put) (?:an? )?check(?: constraint)?(?: (?:named |called )?(?P<name>{id}))? (?:on|to|for) (?:the )?(?:table )?(?P<t>{q})(?: table)?(?: ?:| that| where| requiring| ensuring| so that| saying)? (?P<e>.+)".into(), add_check_on_table),
        (r"(?:add|create|put) (?:an? )?check(?: constraint)?(?: (?:named|called) (?P<name>{id}))? (?P<e>.+?) (?:to|on|for) (?:the )?(?:table )?(?P<t>{tbl})(?: table)?".into(), add_check_on_table),
        (r"(?:add|create) (?:an? )?constraint (?P<name>{id}) check (?P<e>.+?) (?:to|on|for) (?:the )?(?:table )?(?P<t>{tbl})(?: table)?".into(), add_check_on_table),
        (r"(?:add|create|put) (?:an? )?check(?: constraint)?(?: (?:named|called) (?P<name>{id}))?(?: that)? (?P<e>.+)".into(), add_check_qualified),
        // NOT NULL on.
        (r"(?:make|mark|set|change|alter|turn|declare|flag|switch) (?P<col>{col}) (?:to be |to |as |into |set )?(?:an? )?(?:required|mandatory|not null|not-null|non-null|non null|nonnull|non-nullable|non nullable|not nullable|notnull|never null)(?: column| field)?".into(), set_not_null),
        (r"(?P<col>{col}) (?:must not|must never|mustn't|should not|should never|shouldn't|cannot|can't|can not|may not|can never|may never|shall not|will never|is not allowed to|isn't allowed to) be (?:null|nullable)".into(), set_not_null),
        (r"(?P<col>{col}) (?:is|should be|must be|has to be|needs to be|becomes|will be) (?:required|mandatory|not null|non-null|non-nullable|not nullable)".into(), set_not_null),
        (r"(?:add|set|apply|enforce|put) (?:an? |the )?(?:not[ -]null|non-null|required)(?: constraint| check)? (?:on|to|for|in) (?P<col>{col})".into(), set_not_null),
        (r"(?:disallow|forbid|prohibit|reject|stop allowing|don't allow|do not allow|no longer allow|deny) (?:any )?nulls? (?:values )?(?:in|on|for|into) (?P<col>{col})".into(), set_not_null),
        (r"require (?:a value (?:in|for) )?(?P<col>{col})".into(), set_not_null),
        // NOT NULL off.
        (r"(?:make|mark|set|change|alter|turn|declare|switch) (?P<col>{col}) (?:to be |to |as |into |back to )?(?:optional|nullable|null-able|not required|non-mandatory|not mandatory)(?: again)?".into(), drop_not_null),
        (r"(?:drop|remove|delete|relax|lift|get rid of|disable) (?:the )?(?:not[ -]null|non-null|required)(?: constraint| check| requirement| flag)? (?:on|from|of|for|in) (?P<col>{col})".into(), drop_not_null),
        (r"(?:alter|change) (?:column )?(?P<col>{col}) drop not null".into(), drop_not_null),
        (r"(?:allow|permit|accept|enable) (?:nulls?|null values|missing values) (?:in|on|for|into) (?P<col>{col})".into(), drop_not_null),
        (r"(?P<col>{col}) (?:can|may|should be allowed to|should be able to|must be allowed to|is allowed to|could) be null".into(), drop_not_null),
        (r"(?P<col>{col}) (?:is|should be|becomes|will be|can be) (?:optional|nullable)".into(), drop_not_null),
        // Defaults.
        (r"(?:drop|remove|delete|clear|unset|get rid of|reset) (?:the )?default(?: value)? (?:on|of|for|from|in) (?P<col>{col})".into(), drop_default),
        (r"(?:drop|remove|delete|clear|unset|get rid of) (?P<col>{col})(?:'s)? default(?: value)?".into(), drop_default),
        (r"(?P<col>{col}) (?:should|must|will|shall) (?:have|get) no default(?: value)?(?: anymore| any more)?".into(), drop_default),
        (r"(?:alter|change) (?:column )?(?P<col>{col}) drop default".into(), drop_default),
        (r"(?:set|change|update|alter|make|modify) (?:the )?default(?: value)? (?:of|on|for|in) (?P<col>{col}) (?:to|=|as) (?P<d>.+)".into(), set_default),
        (r"(?:set|give|add|put) (?:the |an? )?default(?: value)? (?:of )?(?P<d>.+?) (?:to|on|for) (?P<col>{col})".into(), set_default),
        (r"default (?P<col>{col}) to (?P<d>.+)".into(), set_default),
        (r"(?:set|make|change|alter|give) (?:column )?(?P<col>{col})(?:'s)? (?:set |a )?default(?: value)? (?:to |= |of |as )?(?P<d>.+)".into(), set_default),
        (r"(?P<col>{col}) (?:should|must|will|shall) default to (?P<d>.+)".into(), set_default),
        (r"(?P<col>{col}) defaults to (?P<d>.+)".into(), set_default),
        (r"give (?P<col>{col}) (?:a )?default(?: value)? (?:of )?(?P<d>.+)".into(), set_default),
        // Renames.
        (r"(?:rename|change (?:the )?name of) (?:the )?(?:column |field )?(?P<c>{id})(?: column| field)? (?:to|as|->|=>|into) (?P<n>{id}) (?:in|on|of|for|from) (?:the )?(?:table )?(?P<t>{tbl})(?: table)?".into(), rename_in_table),
        (r"(?:rename|change (?:the )?(?:column |table )?name of|update (?:the )?name of) (?P<x>.+?) (?:to|as|->|=>|into) (?:be )?(?P<n>{q})".into(), rename),
        (r"call (?P<x>.+?) (?P<n>{q})(?: instead)?".into(), rename),
        (r"(?P<x>.+?) (?:should|must|will|shall) (?:now )?be (?:called|named|renamed(?: to)?) (?P<n>{q})".into(), rename),
        // Splitting and merging tables and columns; moving columns.
        (r"(?P<verb>split|extract|pull|break|separate|carve|factor|peel|spin)(?P<out> out| off)? (?P<src>.+?) (?:out |off )?(?:into|to|as) (?:an? |the )?(?P<new>(?:new |separate )+)?(?:table )?(?P<t>{tbl})(?: table)?(?: (?:keyed by|joined on|joined by|via|linked by|with key) (?P<k>{id}))?".into(), split_table),
        (r"(?:move|relocate|transfer|shift) (?P<src>.+?) (?:out )?(?:to|into) (?:an? |the )?(?:new |separate )+(?:table )?(?P<t>{tbl})(?: table)?(?: (?:keyed by|joined on|joined by|via|linked by|with key) (?P<k>{id}))?".into(), split_table),
        (r"(?:split|break(?: up)?|divide|separate|explode|decompose) (?:up )?(?:the )?(?:column |field )?(?P<col>{colf}) (?:up )?(?:into|in|to) (?:the )?(?:new )?(?:columns? |fields? )?(?P<l>.+)".into(), split_column),
        (r"(?:merge|fold|combine|absorb|collapse) (?:back )?(?:the )?(?:table )?(?P<other>{tbl})(?: table)? (?:back )?(?:into|in|onto) (?:the )?(?:table )?(?P<t>{tbl})(?: table)?(?: (?:keyed by|joined on|joined by|via|linked by) (?P<k2>{id}))?(?:,? (?:keeping|with columns|taking|copying|moving|bringing over|bringing) (?:the )?(?:columns? )?(?P<l>.+?))?(?: (?:keyed by|joined on|joined by|via|linked by) (?P<k>{id}))?".into(), merge_tables),
        (r"(?:merge|fold|combine|absorb|bring) (?:the )?(?:columns? )?(?P<l>.+?) (?:from|out of) (?:the )?(?:table )?(?P<other>{tbl})(?: table)? (?:back )?into (?:the )?(?:table )?(?P<t>{tbl})(?: table)?(?: (?:keyed by|joined on|joined by|via|linked by) (?P<k>{id}))?".into(), merge_tables),
        (r"(?:merge|fold|combine|absorb) (?:the )?(?:table )?(?P<other>{tbl}) ?\((?P<l>[^()]+)\) (?:back )?into (?:the )?(?:table )?(?P<t>{tbl})(?: table)?(?: (?:keyed by|joined on|joined by|via|linked by) (?P<k>{id}))?".into(), merge_tables),
        (r"(?:merge|combine|join|concatenate|concat|fuse|unify) (?:the )?(?:columns? )?(?P<cols>.+?) (?:into|to form|to make|to create) (?:an? |one |the )?(?:single )?(?:new )?(?:column |field )?(?P<into>{id})(?: column| field)?(?: (?:of type|with type|typed|type) (?P<ty>.+?))?(?: (?:as|using|computed as|via|=) (?P<e>.+))?".into(), merge_columns),
        (r"(?:move|relocate|transfer|shift) (?:the )?(?:column |field )?(?P<col>{colf})(?: column| field)? (?:over )?(?:to|into|onto) (?:the )?(?:table )?(?P<t>{tbl})(?: table)?(?: (?:keyed by|joined on|joined by|via|linked by|using) (?P<k>{id}))?".into(), move_column),
        (r"(?:move|relocate|transfer|shift) (?P<src>.+?) (?:to|into|onto) (?:the )?(?:table )?(?P<t>{tbl})(?: table)?".into(), move_several),
        // Dropping tables and columns.
        (r"(?:drop|remove|delete|get rid of|destroy|discard) (?:the )?(?:whole |entire )?table (?P<t>{tbl})".into(), drop_table),
        (r"(?:drop|remove|delete|get rid of|destroy|discard) (?:the )?(?:whole |entire )?(?P<t>{tbl}) table".into(), drop_table),
        (r"(?:drop|remove|delete|get rid of|discard) (?:the )?(?P<col>{colf})".into(), drop_column),
        (r"(?:drop|remove|delete|get rid of|discard) (?:the )?(?:columns? )?(?P<l>.+(?:,| and | & ).+)".into(), drop_several),
        // Backfills.
        (r"(?:backfill|back-fill|back fill|fill in|fill|refill|re-fill|populate|repopulate|re-populate|recompute|re-compute|recalculate|re-calculate|compute|calculate|derive|rederive|re-derive|update) (?:the )?(?:column )?(?:values (?:of|in) )?(?P<col>{col}) (?:with|from|as|using|to|=|by|via) (?P<e>.+?)(?: (?:where|for rows where|only where|for rows with|for rows that have) (?P<p>.+))?".into(), backfill),
        (r"(?:backfill|back-fill|back fill|fill in|fill|refill|populate|repopulate|recompute|recalculate) (?P<col>.+)".into(), backfill_incomplete),
        // Type changes.
        (type_of, change_type_lenient),
        (type_change, change_type),
        (r"(?:alter|change|set|modify) (?:column )?(?P<col>{col})(?: set data| set)? type (?P<to>.+?)(?: using (?P<using>.+))?".into(), change_type_lenient),
        (r"(?:make|turn) (?P<col>{col}) (?:into )?(?:an? )?(?P<to>.+?)(?: instead of (?:an? )?(?P<from>.+?))?(?: using (?P<using>.+))?".into(), change_type_strict),
        // Adding columns: last of the `add` forms, it reads any column definition.
        (r"(?:add|create|introduce|append|include|put) (?P<body>.+)".into(), add_column),
        // Sentences about a column, after every more specific reading.
        (r"(?:ensure|enforce|check|guarantee)(?: that)? (?P<e>.+)".into(), add_check_qualified),
        (r"(?P<col>{col}) (?:must|should|has to|needs to|shall) (?:always )?be (?P<cmp>.+)".into(), add_check_condition),
        (r"(?P<col>{col}) (?:should|must|needs to|has to) (?:be|become) (?:of type |type |an? )?(?P<to>.+?)(?: instead of (?:an? )?(?P<from>.+?))?".into(), change_type_strict),
        (r"set (?P<col>{col}) (?:to|=) (?P<v>.+)".into(), set_ambiguous),
    ];
    table.into_iter().map(|(p, b)| (compile(&p), b)).collect()
});

// ---------------------------------------------------------------------------
// Reading slots

fn get<'h>(c: &Captures<'h>, name: &str) -> Option<&'h str> {
    c.name(name)
        .map(|m| m.as_str().trim())
        .filter(|s| !s.is_empty())
}

fn req<'h>(c: &Captures<'h>, name: &str) -> &'h str {
    get(c, name).unwrap_or("")
}

fn done(change: Change, notes: Vec<String>) -> Result<Parsed, String> {
    Ok(Parsed { change, notes })
}

/// Words that can stand where a column name goes but never name one here;
/// refusing them keeps `drop default on users.active` from reading as a
/// column called `default`.
#[rustfmt::skip]
const NOT_COLUMNS: &[&str] = &[
    "default", "index", "constraint", "not", "null", "nulls", "type", "primary", "foreign",
    "unique", "check", "key", "value", "label", "enum", "table", "column", "columns", "field",
    "name",
];

fn is_ident(s: &str) -> bool {
    re!(r"{id}").is_match(s)
}

fn is_table(s: &str) -> bool {
    re!(r"{tbl}").is_match(s)
}

/// `users.email`, `billing.users.email`, `email on users`, `users(email)`
/// -> (table, column).
fn column_ref(raw: &str) -> Result<(String, String), String> {
    let s = raw.trim();
    let (table, column) = if let Some(c) = re!(r"(?:the )?(?:column |field )?(?P<c>{id})(?: column| field)? (?:on|in|of|from|out of) (?:the )?(?:table )?(?P<t>{tbl})(?: table)?").captures(s) {
        (c["t"].to_string(), c["c"].to_string())
    } else if let Some(c) = re!(r"(?P<t>{tbl}) ?\( ?(?P<c>{id}) ?\)").captures(s) {
        (c["t"].to_string(), c["c"].to_string())
    } else if let Some(c) = re!(r"(?:the )?(?:column |field )?(?P<q>{q})(?: column| field)?").captures(s) {
        match split_dotted(&c["q"]).split_last() {
            Some((column, table)) if !table.is_empty() => (table.join("."), column.clone()),
            _ => {
                let one = &c["q"];
                return Err(format!(
                    "no table given for column `{one}`: write `table.{one}` or `{one} on table`"
                ));
            }
        }
    } else {
        return Err(format!("no table.column found in `{s}`: write `users.email` or `email on users`"));
    };
    if NOT_COLUMNS.contains(&column.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "`{s}` does not name a column: write `users.email` or `email on users`"
        ));
    }
    Ok((table, column))
}

/// A table named with the word "table" (`the users table`, `table users`):
/// what tells a table rename from a column rename.
fn table_phrase(raw: &str) -> Option<String> {
    re!(r"(?:the )?table (?P<a>{tbl})|(?:the )?(?P<b>{tbl}) table")
        .captures(raw.trim())
        .and_then(|c| c.name("a").or(c.name("b")).map(|m| m.as_str().to_string()))
}

/// Splits at commas outside quotes and parentheses.
fn split_commas(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0);
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Splits at spaces outside quotes and parentheses: `numeric(12, 2)` and
/// `'in stock'` stay one word.
fn words(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, None::<usize>);
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ' ') if depth <= 0 => {
                if let Some(st) = start.take() {
                    out.push(&s[st..i]);
                }
                continue;
            }
            _ => {}
        }
        start.get_or_insert(i);
    }
    if let Some(st) = start {
        out.push(&s[st..]);
    }
    out
}

/// `a, b and c`, `a & b`, `a + b` -> items.
fn split_items(s: &str) -> Vec<String> {
    let mut items = Vec::new();
    for part in split_commas(s) {
        let mut current: Vec<&str> = Vec::new();
        for w in words(part.trim()) {
            if matches!(w.to_ascii_lowercase().as_str(), "and" | "&" | "+" | "plus") {
                if !current.is_empty() {
                    items.push(current.join(" "));
                    current.clear();
                }
            } else {
                current.push(w);
            }
        }
        if !current.is_empty() {
            items.push(current.join(" "));
        }
    }
    items
}

/// Items that must each be a bare column name.
fn names(list: &str) -> Result<Vec<String>, String> {
    let items = split_items(list.trim().trim_start_matches('(').trim_end_matches(')'));
    if items.is_empty() {
        return Err("no column names given".into());
    }
    for item in &items {
        if !is_ident(item) || NOT_COLUMNS.contains(&item.to_ascii_lowercase().as_str()) {
            return Err(format!("`{item}` is not a column name"));
        }
    }
    Ok(items)
}

/// Several columns of one table: `users.a and users.b`, `a, b on users`,
/// `users(a, b)`, `users columns a, b`, `billing columns (a, b) out of users`.
fn column_list(raw: &str) -> Result<(String, Vec<String>), String> {
    let s = re!(r"(?:the combination of |the pair of |the pair |both |the )?(?P<rest>.+)")
        .captures(raw.trim())
        .map_or(raw.trim(), |c| c.name("rest").map_or("", |m| m.as_str()));
    if let Some(c) = re!(r"(?:[A-Za-z_ ]+ )?(?:columns?|fields?) \(?(?P<l>[^()]+?)\)? (?:on|in|of|from|out of) (?:the )?(?:table )?(?P<t>{tbl})(?: table)?").captures(s) {
        return Ok((c["t"].to_string(), names(&c["l"])?));
    }
    if let Some(c) = re!(r"(?P<t>{tbl})(?:'s| table's)? (?:columns?|fields?) (?P<l>.+)").captures(s)
    {
        return Ok((c["t"].to_string(), names(&c["l"])?));
    }
    if let Some(c) = re!(r"(?P<t>{tbl}) ?\((?P<l>[^()]+)\)").captures(s) {
        return Ok((c["t"].to_string(), names(&c["l"])?));
    }
    if let Some(c) =
        re!(r"(?P<l>.+?) (?:on|in|of|from|out of) (?:the )?(?:table )?(?P<t>{tbl})(?: table)?")
            .captures(s)
    {
        return Ok((c["t"].to_string(), names(&c["l"])?));
    }
    dotted_list(s)
}

/// `users.a, users.b and c`: every item qualified, or bare after a
/// qualified one, all of one table.
fn dotted_list(s: &str) -> Result<(String, Vec<String>), String> {
    let mut table: Option<String> = None;
    let mut columns = Vec::new();
    let mut bare = Vec::new();
    for item in split_items(s) {
        if !re!(r"{q}").is_match(&item) {
            return Err(format!(
                "`{item}` is not a column (write `users.email` or `email on users`)"
            ));
        }
        let Some((column, owner)) = split_dotted(&item)
            .split_last()
            .map(|(c, o)| (c.clone(), o.join(".")))
        else {
            continue;
        };
        if owner.is_empty() {
            bare.push(column.clone());
        } else if let Some(known) = table.as_ref().filter(|k| !k.eq_ignore_ascii_case(&owner)) {
            return Err(format!(
                "columns of different tables (`{known}` and `{owner}`): a change covers one table"
            ));
        } else {
            table = Some(owner);
        }
        columns.push(column);
    }
    match table {
        Some(t) => {
            if let Some(bad) = columns
                .iter()
                .find(|c| NOT_COLUMNS.contains(&c.to_ascii_lowercase().as_str()))
            {
                return Err(format!("`{bad}` is not a column name"));
            }
            Ok((t, columns))
        }
        None if columns.is_empty() => Err(format!("no table.column found in `{s}`")),
        None => Err(format!(
            "no table given for {}: write `table.{}` or `{} on table`",
            bare.iter()
                .map(|b| format!("`{b}`"))
                .collect::<Vec<_>>()
                .join(", "),
            bare[0],
            bare.join(", ")
        )),
    }
}

/// Built-in type names (first word, lower case). A name outside this list is
/// read as a user-defined type, and said so, since sqlparser takes any word.
#[rustfmt::skip]
const BUILTIN_TYPES: &[&str] = &[
    "bigint", "bigserial", "binary", "bit", "blob", "bool", "boolean", "box", "bytea", "char",
    "character", "cidr", "circle", "citext", "date", "daterange", "datetime", "dec", "decimal",
    "double", "enum", "float", "float4", "float8", "geography", "geometry", "hstore", "inet", "int",
    "int2", "int4", "int4range", "int8", "int8range", "integer", "interval", "json", "jsonb",
    "line", "longblob", "longtext", "lseg", "ltree", "macaddr", "macaddr8", "mediumblob",
    "mediumint", "mediumtext", "money", "nchar", "numeric", "numrange", "nvarchar", "oid", "path",
    "point", "polygon", "real", "serial", "serial2", "serial4", "serial8", "smallint",
    "smallserial", "text", "time", "timestamp", "timestamptz", "timetz", "tinyblob", "tinyint",
    "tinytext", "tsquery", "tsrange", "tstzrange", "tsvector", "uuid", "varbinary", "varbit",
    "varchar", "vector", "xml", "year",
];

/// Words that sqlparser would take as a custom type but that mean something
/// else in a request (`make users.email required`).
#[rustfmt::skip]
const NOT_TYPES: &[&str] = &[
    "required", "mandatory", "optional", "nullable", "null", "not null", "non-null", "unique",
    "primary key", "the primary key", "positive", "negative", "default", "index", "true", "false",
];

fn is_builtin_type(ty: &str) -> bool {
    let first = ty
        .split(|c: char| c == '(' || c == '[' || c.is_whitespace())
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    BUILTIN_TYPES.contains(&first.as_str())
}

/// A data type as typed, checked by the SQL parser. A name outside the
/// built-in list is accepted as a user-defined type and said in the notes;
/// callers that cannot tell a type from an adjective check
/// [`is_builtin_type`] themselves.
fn data_type(raw: &str, notes: &mut Vec<String>) -> Result<String, String> {
    let ty = re!(r"(?:an? |the )?(?:type )?(?P<t>.+?)(?: type)?")
        .captures(raw.trim())
        .map_or(raw.trim(), |c| c.name("t").map_or("", |m| m.as_str()));
    if NOT_TYPES.contains(&ty.to_ascii_lowercase().as_str()) {
        return Err(format!("`{ty}` is not a data type"));
    }
    parse_type("type", ty, Engine::Postgres)?;
    if !is_builtin_type(ty) {
        notes.push(format!(
            "read `{ty}` as a user-defined type (an enum or domain): it is not a built-in type"
        ));
    }
    Ok(ty.to_string())
}

/// The type of a new column when the request gives none: `bigint` for
/// `*_id` (keys), `text` otherwise, said in the notes.
fn inferred_type(table: &str, column: &str, notes: &mut Vec<String>) -> String {
    let bare = column.trim_matches('"').to_ascii_lowercase();
    let (ty, why) = if bare.ends_with("_id") || bare == "id" {
        ("bigint", "a key column")
    } else {
        ("text", "the general-purpose type")
    };
    notes.push(format!(
        "no type given for {table}.{column}: assumed {ty} ({why}); name the type to choose another"
    ));
    ty.to_string()
}

/// `lower(email)` -> an expression; `accounts.organisation_id` -> a lookup in
/// another table, joined by `<singular source>_id = id` unless a key is given.
fn fill_from(
    text: &str,
    table: &str,
    key: Option<&str>,
    notes: &mut Vec<String>,
) -> Result<Fill, String> {
    let text = text.trim();
    let parts = split_dotted(text);
    if let Some((column, owner)) = parts.split_last().filter(|(_, o)| !o.is_empty()) {
        if re!(r"{q}").is_match(text) {
            let source = owner.join(".");
            if source.eq_ignore_ascii_case(table) {
                // `users.email` while filling users: a column of the same row.
                return Ok(Fill::Expression {
                    expression: column.clone(),
                });
            }
            let (local_key, remote_key) = join_key(key, table, &source)?;
            notes.push(format!(
                "assumed the join key {table}.{} = {source}.{}",
                local_key
                    .clone()
                    .unwrap_or_else(|| format!("{}_id", singular(&source))),
                remote_key.clone().unwrap_or_else(|| "id".into())
            ));
            return Ok(Fill::Lookup {
                table: source,
                column: column.clone(),
                local_key,
                remote_key,
            });
        }
    }
    if key.is_some() {
        return Err(format!("a join key only applies to a fill from another table, and `{text}` is not `table.column`"));
    }
    Ok(Fill::Expression {
        expression: text.to_string(),
    })
}

/// `account_id` or `invoices.account_id = accounts.id` -> (local, remote).
fn join_key(
    key: Option<&str>,
    table: &str,
    source: &str,
) -> Result<(Option<String>, Option<String>), String> {
    let Some(key) = key else {
        return Ok((None, None));
    };
    if is_ident(key) {
        return Ok((Some(key.to_string()), None));
    }
    let Some(c) = re!(r"(?P<a>{q}) ?= ?(?P<b>{q})").captures(key) else {
        return Err(format!("join key `{key}` is not a column or `a = b`"));
    };
    let side = |q: &str| {
        let parts = split_dotted(q);
        match parts.split_last() {
            Some((column, owner)) => (owner.join("."), column.clone()),
            None => (String::new(), q.to_string()),
        }
    };
    let (a, b) = (side(&c["a"]), side(&c["b"]));
    let (local, remote) = if a.0.eq_ignore_ascii_case(source) || b.0.eq_ignore_ascii_case(table) {
        (b, a)
    } else {
        (a, b)
    };
    Ok((Some(local.1), Some(remote.1)))
}

/// The key of a one-row-per-row table, said when defaulted.
fn key_note(
    key: Option<&str>,
    child: &str,
    parent: &str,
    notes: &mut Vec<String>,
) -> Option<String> {
    match key {
        Some(k) => Some(k.to_string()),
        None => {
            notes.push(format!(
                "assumed the key {child}.{}_id references {parent}",
                singular(parent)
            ));
            None
        }
    }
}

/// `users.email must be <phrase>` -> a CHECK expression, for the phrasings
/// whose meaning is unambiguous.
fn condition(column: &str, phrase: &str) -> Option<String> {
    let p = phrase.trim();
    let words: &[(&str, &str)] = &[
        ("positive|greater than zero|above zero|more than zero", "> 0"),
        ("non-negative|nonnegative|non negative|not negative|zero or more|zero or positive|at least zero", ">= 0"),
        ("negative|less than zero|below zero", "< 0"),
        ("non-positive|not positive|zero or less|zero or negative", "<= 0"),
        ("non-empty|not empty|nonempty", "<> ''"),
    ];
    for (phrases, op) in words {
        if phrases.split('|').any(|w| w.eq_ignore_ascii_case(p)) {
            return Some(format!("{column} {op}"));
        }
    }
    if let Some(c) = re!(r"(?P<op>>=|<=|<>|!=|=|>|<) ?(?P<v>.+)").captures(p) {
        return Some(format!("{column} {} {}", &c["op"], &c["v"]));
    }
    if let Some(c) = re!(r"between (?P<a>.+?) and (?P<b>.+)").captures(p) {
        return Some(format!("{column} BETWEEN {} AND {}", &c["a"], &c["b"]));
    }
    if let Some(c) = re!(r"(?:one of|in) (?P<l>.+)").captures(p) {
        let list = c["l"].trim();
        let list = if list.starts_with('(') {
            list.to_string()
        } else {
            format!("({})", split_items(list).join(", "))
        };
        return Some(format!("{column} IN {list}"));
    }
    let comparisons: &[(&str, &str)] = &[
        (
            "at least|no less than|not less than|greater than or equal to|more than or equal to",
            ">=",
        ),
        (
            "at most|no more than|not more than|less than or equal to",
            "<=",
        ),
        (
            "greater than|more than|above|over|bigger than|larger than",
            ">",
        ),
        ("less than|below|under|smaller than|fewer than", "<"),
        ("equal to|equals|exactly", "="),
    ];
    for (phrases, op) in comparisons {
        for w in phrases.split('|') {
            let value = p
                .get(..w.len())
                .filter(|head| head.eq_ignore_ascii_case(w))
                .and_then(|_| p[w.len()..].strip_prefix(' '))
                .map(str::trim)
                .filter(|v| !v.is_empty());
            if let Some(value) = value {
                return Some(format!("{column} {op} {value}"));
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Column definitions: `[required] [column] name [type] [not null] [default x]
// [to table] [filled with x | from t.c] [via key]`, shared by `add` and
// `create table`.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Clause {
    Decoration,
    NotNull,
    Nullable,
    Default,
    Fill,
    Key,
    Type,
    PrimaryKey,
    Table,
    Unsupported(&'static str),
}

/// Clause keywords, longer phrases first so `default value of` wins over `default`.
const CLAUSES: &[(&str, Clause)] = &[
    ("with a default of", Clause::Default),
    ("with a default value of", Clause::Default),
    ("with default value", Clause::Default),
    ("with default", Clause::Default),
    ("defaulting to", Clause::Default),
    ("defaults to", Clause::Default),
    ("default value of", Clause::Default),
    ("default value", Clause::Default),
    ("default of", Clause::Default),
    ("default to", Clause::Default),
    ("default =", Clause::Default),
    ("default", Clause::Default),
    ("not nullable", Clause::NotNull),
    ("non nullable", Clause::NotNull),
    ("not null", Clause::NotNull),
    ("non null", Clause::NotNull),
    ("never null", Clause::NotNull),
    ("non-nullable", Clause::NotNull),
    ("non-null", Clause::NotNull),
    ("not-null", Clause::NotNull),
    ("nonnull", Clause::NotNull),
    ("notnull", Clause::NotNull),
    ("required", Clause::NotNull),
    ("mandatory", Clause::NotNull),
    ("nullable", Clause::Nullable),
    ("optional", Clause::Nullable),
    ("null", Clause::Nullable),
    ("with values from", Clause::Fill),
    ("backfilled with", Clause::Fill),
    ("backfilled from", Clause::Fill),
    ("backfill with", Clause::Fill),
    ("backfill from", Clause::Fill),
    ("filled in from", Clause::Fill),
    ("filled with", Clause::Fill),
    ("filled from", Clause::Fill),
    ("fill with", Clause::Fill),
    ("fill from", Clause::Fill),
    ("populated with", Clause::Fill),
    ("populated from", Clause::Fill),
    ("initialised to", Clause::Fill),
    ("initialised with", Clause::Fill),
    ("initialised from", Clause::Fill),
    ("initialized to", Clause::Fill),
    ("initialized with", Clause::Fill),
    ("initialized from", Clause::Fill),
    ("copied from", Clause::Fill),
    ("taken from", Clause::Fill),
    ("computed as", Clause::Fill),
    ("computed from", Clause::Fill),
    ("set to", Clause::Fill),
    ("from", Clause::Fill),
    ("joined on", Clause::Key),
    ("join on", Clause::Key),
    ("joined by", Clause::Key),
    ("joined via", Clause::Key),
    ("matched on", Clause::Key),
    ("matching on", Clause::Key),
    ("keyed by", Clause::Key),
    ("linked by", Clause::Key),
    ("via", Clause::Key),
    ("through", Clause::Key),
    ("of type", Clause::Type),
    ("with type", Clause::Type),
    ("typed", Clause::Type),
    ("type", Clause::Type),
    ("primary key", Clause::PrimaryKey),
    ("unique", Clause::Unsupported("a unique column is a separate change: plan this one, then `add unique constraint on <table>.<column>`")),
    ("references", Clause::Unsupported("a foreign key is a separate change: plan this one, then `add foreign key from <table>.<column> to <other>.id`")),
    ("check", Clause::Unsupported("a check is a separate change: plan this one, then `add check constraint on <table>: <condition>`")),
    ("generated", Clause::Unsupported("generated and identity columns are not supported: use bigserial or a default")),
    ("identity", Clause::Unsupported("generated and identity columns are not supported: use bigserial or a default")),
    ("a", Clause::Decoration),
    ("an", Clause::Decoration),
    ("the", Clause::Decoration),
    ("new", Clause::Decoration),
    ("column", Clause::Decoration),
    ("field", Clause::Decoration),
    ("called", Clause::Decoration),
    ("named", Clause::Decoration),
];

/// Where free words go while reading a column definition.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Name,
    Type,
    Default,
    Fill,
    Key,
    Closed,
}

#[derive(Debug, Default)]
struct ColumnDef {
    name: Option<String>,
    said_column: bool,
    data_type: Option<String>,
    not_null: bool,
    nullable: bool,
    default: Option<String>,
    fill: Option<String>,
    key: Option<String>,
    table: Option<String>,
    primary_key: bool,
}

/// Reads one column definition. `in_table` is false for `create table`,
/// where a column cannot name its table, a fill or a join key.
fn column_def(text: &str, in_table: bool) -> Result<ColumnDef, String> {
    let toks = words(text);
    let mut def = ColumnDef::default();
    let mut slot = Slot::Name;
    let mut buf: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if let Some((clause, n)) = clause_at(&toks, i, slot, &def, in_table) {
            store(&mut def, slot, &mut buf)?;
            if clause == Clause::Table {
                def.table = table_clause(&toks, i).map(|(table, _)| table);
            }
            i += n;
            slot = match clause {
                Clause::Default => Slot::Default,
                Clause::Fill => Slot::Fill,
                Clause::Key => Slot::Key,
                Clause::Type => Slot::Type,
                Clause::Unsupported(why) => return Err(why.into()),
                Clause::PrimaryKey if in_table => {
                    return Err("a primary key is a separate change: plan this one, then `add primary key on <table>(<column>)`".into())
                }
                Clause::PrimaryKey => {
                    def.primary_key = true;
                    after_flag(&def)
                }
                Clause::NotNull => {
                    def.not_null = true;
                    after_flag(&def)
                }
                Clause::Nullable => {
                    def.nullable = true;
                    after_flag(&def)
                }
                Clause::Decoration => {
                    def.said_column |= matches!(toks[i - 1].to_ascii_lowercase().as_str(), "column" | "field");
                    Slot::Name
                }
                Clause::Table => after_flag(&def),
            };
            continue;
        }
        match slot {
            Slot::Name => {
                def.name = Some(toks[i].to_string());
                slot = Slot::Type;
            }
            Slot::Closed => {
                return Err(format!(
                    "did not understand `{}` in `{text}`",
                    toks[i..].join(" ")
                ))
            }
            _ => buf.push(toks[i]),
        }
        i += 1;
    }
    store(&mut def, slot, &mut buf)?;
    Ok(def)
}

/// After a flag (`not null`, `to users`), free words are the type if none
/// was given yet.
fn after_flag(def: &ColumnDef) -> Slot {
    match (&def.name, &def.data_type) {
        (None, _) => Slot::Name,
        (Some(_), None) => Slot::Type,
        (Some(_), Some(_)) => Slot::Closed,
    }
}

/// Files the words read for `slot`.
fn store(def: &mut ColumnDef, slot: Slot, buf: &mut Vec<&str>) -> Result<(), String> {
    let text = buf.join(" ");
    buf.clear();
    let target = match slot {
        Slot::Type if text.is_empty() => return Ok(()),
        Slot::Name | Slot::Closed => return Ok(()),
        Slot::Type => &mut def.data_type,
        Slot::Default => &mut def.default,
        Slot::Fill => &mut def.fill,
        Slot::Key => &mut def.key,
    };
    if text.is_empty() {
        let what = match slot {
            Slot::Default => "`default` needs a value, e.g. `default 0`",
            Slot::Fill => {
                "a fill needs a value, e.g. `filled with 0` or `from accounts.organisation_id`"
            }
            _ => "a join key needs a column, e.g. `via account_id`",
        };
        return Err(what.into());
    }
    if target.is_some() {
        return Err(format!("`{text}` repeats a part already given"));
    }
    *target = Some(text);
    Ok(())
}

/// The clause starting at word `i`, if any, and how many words it uses.
fn clause_at(
    toks: &[&str],
    i: usize,
    slot: Slot,
    def: &ColumnDef,
    in_table: bool,
) -> Option<(Clause, usize)> {
    let in_expr = matches!(slot, Slot::Default | Slot::Fill | Slot::Key);
    for &(phrase, clause) in CLAUSES {
        let n = phrase.split(' ').count();
        if toks.len() < i + n
            || !phrase
                .split(' ')
                .zip(&toks[i..])
                .all(|(p, t)| p.eq_ignore_ascii_case(t))
        {
            continue;
        }
        let applies = match clause {
            Clause::Decoration => def.name.is_none() && slot == Slot::Name,
            // `default null` and `x is not null` are expressions, not flags.
            Clause::Nullable => !(in_expr && phrase == "null"),
            Clause::NotNull => !(in_expr && i > 0 && toks[i - 1].eq_ignore_ascii_case("is")),
            Clause::Fill | Clause::Key => in_table && !(slot == Slot::Fill && phrase == "from"),
            Clause::Type => def.data_type.is_none() && !in_expr,
            _ => true,
        };
        if applies {
            return Some((clause, n));
        }
    }
    if in_table && def.table.is_none() && def.name.is_some() {
        return table_clause(toks, i).map(|(_, used)| (Clause::Table, used));
    }
    None
}

/// `to users`, `on the users table`, `in table billing.users` at word `i`.
fn table_clause(toks: &[&str], i: usize) -> Option<(String, usize)> {
    let prep = toks.get(i)?.to_ascii_lowercase();
    if !matches!(prep.as_str(), "to" | "on" | "in" | "into" | "for") {
        return None;
    }
    let mut j = i + 1;
    for skip in ["the", "table"] {
        if toks.get(j).is_some_and(|t| t.eq_ignore_ascii_case(skip)) {
            j += 1;
        }
    }
    let name = toks.get(j).filter(|t| is_table(t))?;
    if CLAUSES.iter().any(|(p, _)| p.eq_ignore_ascii_case(name)) {
        return None;
    }
    j += 1;
    if toks.get(j).is_some_and(|t| t.eq_ignore_ascii_case("table")) {
        j += 1;
    }
    Some((name.to_string(), j - i))
}

// ---------------------------------------------------------------------------
// Builders, one per change shape

fn add_column(c: &Captures<'_>) -> Result<Parsed, String> {
    let body = req(c, "body");
    let def = column_def(body, true)?;
    let Some(name) = def.name.clone() else {
        return Err(format!(
            "no column name found in `{body}`: write `add users.nickname text`"
        ));
    };
    if !re!(r"{q}").is_match(&name) || NOT_COLUMNS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "`{name}` is not a column name: write `add users.nickname text`"
        ));
    }
    let parts = split_dotted(&name);
    let (table, column) = match (parts.as_slice(), &def.table) {
        ([t @ .., col], Some(given)) if !t.is_empty() && !t.join(".").eq_ignore_ascii_case(given) => {
            return Err(format!("the column is named `{name}` but the table is `{given}`: give the table once, as `{given}.{col}`"))
        }
        ([t @ .., col], _) if !t.is_empty() => (t.join("."), col.clone()),
        ([col], Some(given)) => (given.clone(), col.clone()),
        _ => {
            return Err(format!("no table given for new column `{name}`: write `add users.{name} text` or `add {name} text to users`"))
        }
    };
    let explicit = parts.len() > 1 || def.said_column;
    if !explicit && def.data_type.is_none() && def.fill.is_none() {
        return Err(format!(
            "`{column}` could be a column or an enum value: write `add column {table}.{column} text` or `add '{column}' to the {table} enum`"
        ));
    }
    let mut notes = Vec::new();
    let data_type = match &def.data_type {
        Some(t) => {
            let ty = data_type(t, &mut notes)
                .map_err(|e| format!("{e} (read as the type of new column `{column}`)"))?;
            // Without `column` or a qualified name, `add more memory to the
            // server` would otherwise become a column of type `memory`.
            if !explicit && !is_builtin_type(&ty) {
                return Err(format!(
                    "read `{column}` as a new column of type `{ty}`, which is not a built-in type; if that is meant, write `add column {table}.{column} {ty}`"
                ));
            }
            ty
        }
        None => inferred_type(&table, &column, &mut notes),
    };
    if def.not_null && def.nullable {
        return Err(format!(
            "`{column}` is said to be both required and nullable"
        ));
    }
    let fill = def
        .fill
        .as_deref()
        .map(|f| fill_from(f, &table, def.key.as_deref(), &mut notes))
        .transpose()?;
    if def.key.is_some() && fill.is_none() {
        return Err("a join key was given without a fill: write `... from accounts.organisation_id via account_id`".into());
    }
    if def.nullable && fill.is_some() {
        return Err(format!(
            "a nullable column with a backfill is two changes: `add {table}.{column} {data_type}`, then `backfill {table}.{column} with ...`"
        ));
    }
    if def.not_null || fill.is_some() {
        if !def.not_null {
            notes.push(format!(
                "existing rows get a fill, so {table}.{column} is added as NOT NULL"
            ));
        }
        return done(
            Change::AddNotNullColumn {
                table,
                column,
                data_type,
                default: def.default,
                fill,
            },
            notes,
        );
    }
    done(
        Change::AddColumn {
            table,
            column,
            data_type,
            default: def.default,
        },
        notes,
    )
}

fn create_table(c: &Captures<'_>) -> Result<Parsed, String> {
    let table = req(c, "t").to_string();
    let rest =
        re!(r"(?:table )?(?:with )?(?:the )?(?:following )?(?:columns?|fields?)?:? ?(?P<d>.*)")
            .captures(req(c, "rest"))
            .map_or("", |m| m.name("d").map_or("", |d| d.as_str()))
            .trim();
    let defs = match rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        Some(inner) if split_commas(rest).len() == 1 && words(rest).len() == 1 => inner,
        _ => rest,
    };
    if defs.is_empty() {
        return Err(format!("no columns given for new table `{table}`: write `create table {table} (id bigint primary key, ...)`"));
    }
    let mut notes = Vec::new();
    let mut columns: Vec<ColumnSpec> = Vec::new();
    let mut key_columns: Vec<String> = Vec::new();
    for item in split_items(defs) {
        if let Some(k) = re!(r"primary key ?\((?P<l>[^()]+)\)").captures(&item) {
            key_columns.extend(names(&k["l"])?);
            continue;
        }
        let def = column_def(&item, false)?;
        let Some(name) = def.name.clone().filter(|n| is_ident(n)) else {
            return Err(format!("`{item}` is not a column definition: write `name type [not null] [default x] [primary key]`"));
        };
        let data_type = match &def.data_type {
            Some(t) => data_type(t, &mut notes)?,
            None => inferred_type(&table, &name, &mut notes),
        };
        if def.not_null && def.nullable {
            return Err(format!(
                "column `{name}` is said to be both not null and nullable"
            ));
        }
        columns.push(ColumnSpec {
            name,
            data_type: Some(data_type),
            not_null: def.not_null || def.primary_key,
            default: def.default,
            primary_key: def.primary_key,
            expression: None,
        });
    }
    for k in key_columns {
        match columns.iter_mut().find(|c| c.name.eq_ignore_ascii_case(&k)) {
            Some(col) => {
                col.primary_key = true;
                col.not_null = true;
            }
            None => {
                return Err(format!(
                    "primary key column `{k}` is not among the new table's columns"
                ))
            }
        }
    }
    done(Change::CreateTable { table, columns }, notes)
}

fn drop_column(c: &Captures<'_>) -> Result<Parsed, String> {
    let col = req(c, "col");
    if is_ident(col) {
        return Err(format!(
            "`{col}` could be a table or a column: write `drop table {col}` or `drop column <table>.{col}`"
        ));
    }
    let (table, column) = column_ref(col)?;
    done(Change::DropColumn { table, column }, Vec::new())
}

fn drop_several(c: &Captures<'_>) -> Result<Parsed, String> {
    let items = split_items(req(c, "l"));
    Err(format!(
        "a request drops one column; send one request per column: {}",
        items
            .iter()
            .map(|i| format!("`drop {i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn drop_table(c: &Captures<'_>) -> Result<Parsed, String> {
    done(
        Change::DropTable {
            table: req(c, "t").to_string(),
        },
        Vec::new(),
    )
}

fn rename_in_table(c: &Captures<'_>) -> Result<Parsed, String> {
    let column = req(c, "c").to_string();
    if NOT_COLUMNS.contains(&column.to_ascii_lowercase().as_str()) {
        return Err(format!("`{column}` does not name a column"));
    }
    done(
        Change::RenameColumn {
            table: req(c, "t").to_string(),
            column,
            new_name: req(c, "n").to_string(),
        },
        Vec::new(),
    )
}

fn rename(c: &Captures<'_>) -> Result<Parsed, String> {
    let (what, new_name) = (req(c, "x"), req(c, "n"));
    if let Some(table) = table_phrase(what) {
        return done(
            Change::RenameTable {
                table,
                new_name: new_name.to_string(),
            },
            Vec::new(),
        );
    }
    if is_ident(what) {
        return Err(format!(
            "`{what}` could be a table or a column: write `rename table {what} to {new_name}` or `rename <table>.{what} to {new_name}`"
        ));
    }
    let (table, column) = column_ref(what)?;
    let new_name = match split_dotted(new_name).as_slice() {
        [one] => one.clone(),
        [t @ .., one] if t.join(".").eq_ignore_ascii_case(&table) => one.clone(),
        _ => {
            return Err(format!(
                "the new name `{new_name}` must be a bare column name, e.g. `handle`"
            ))
        }
    };
    done(
        Change::RenameColumn {
            table,
            column,
            new_name,
        },
        Vec::new(),
    )
}

/// Forms that say "type" (`change the type of X to Y`): any type, a
/// user-defined one said in the notes.
fn change_type_lenient(c: &Captures<'_>) -> Result<Parsed, String> {
    change_type_with(c, false)
}

/// `change X to Y`: Y may be a user-defined type only when the request says
/// "type", gives the old type, or uses a verb that only means a type change;
/// otherwise `change users.username to handle` could be a rename.
fn change_type(c: &Captures<'_>) -> Result<Parsed, String> {
    let typed_verb = get(c, "verb")
        .is_some_and(|v| ["convert", "cast", "retype"].contains(&v.to_ascii_lowercase().as_str()));
    let strict = !(typed_verb || get(c, "kw").is_some() || get(c, "from").is_some());
    change_type_with(c, strict)
}

/// For `make X Y` and `X should be Y`, where Y is only a type if it is a
/// built-in one (`make users.email lowercase` is not a type change).
fn change_type_strict(c: &Captures<'_>) -> Result<Parsed, String> {
    change_type_with(c, true)
}

fn change_type_with(c: &Captures<'_>, strict: bool) -> Result<Parsed, String> {
    let (table, column) = column_ref(req(c, "col"))?;
    let mut notes = Vec::new();
    let to = req(c, "to");
    let to_type = data_type(to, &mut notes)?;
    if strict && !is_builtin_type(&to_type) {
        return Err(format!(
            "`{to_type}` is not a built-in type: to rename the column write `rename {table}.{column} to {to_type}`; for a user-defined type write `change the type of {table}.{column} to {to_type}`"
        ));
    }
    let from_type = get(c, "from")
        .or(get(c, "from2"))
        .map(|f| data_type(f, &mut notes))
        .transpose()?;
    let using = get(c, "using").map(str::to_string);
    done(
        Change::ChangeColumnType {
            table,
            column,
            from_type,
            to_type,
            using,
        },
        notes,
    )
}

fn set_not_null(c: &Captures<'_>) -> Result<Parsed, String> {
    let (table, column) = column_ref(req(c, "col"))?;
    done(Change::SetNotNull { table, column }, Vec::new())
}

fn drop_not_null(c: &Captures<'_>) -> Result<Parsed, String> {
    let (table, column) = column_ref(req(c, "col"))?;
    done(Change::DropNotNull { table, column }, Vec::new())
}

fn set_default(c: &Captures<'_>) -> Result<Parsed, String> {
    let (table, column) = column_ref(req(c, "col"))?;
    let default = req(c, "d");
    if default.is_empty() {
        return Err("no default value given: write `set default of users.active to true`".into());
    }
    done(
        Change::SetDefault {
            table,
            column,
            default: Some(default.to_string()),
        },
        Vec::new(),
    )
}

fn drop_default(c: &Captures<'_>) -> Result<Parsed, String> {
    let (table, column) = column_ref(req(c, "col"))?;
    done(
        Change::SetDefault {
            table,
            column,
            default: None,
        },
        Vec::new(),
    )
}

fn set_ambiguous(c: &Captures<'_>) -> Result<Parsed, String> {
    let (col, v) = (req(c, "col"), req(c, "v"));
    Err(format!(
        "`set {col} to {v}` could mean its default or its value in existing rows: write `set default of {col} to {v}` or `backfill {col} with {v}`"
    ))
}

/// `users (lower(email))`, `users using gin (body)`, `lower(email) on users`,
/// or any column list.
fn index_target(s: &str) -> Result<(String, Vec<String>, Option<String>), String> {
    if let Some(c) =
        re!(r"(?:the )?(?:table )?(?P<t>{tbl}) ?(?:using (?P<m>[\w-]+) ?)?\((?P<l>.+)\)")
            .captures(s)
    {
        let parts: Vec<String> = split_commas(&c["l"])
            .into_iter()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        if parts.is_empty() {
            return Err(format!("no columns to index in `{s}`"));
        }
        return Ok((
            c["t"].to_string(),
            parts,
            c.name("m").map(|m| m.as_str().to_string()),
        ));
    }
    if let Some(c) =
        re!(r"(?P<l>.+\(.*\).*?) (?:on|in|of) (?:the )?(?:table )?(?P<t>{tbl})(?: table)?")
            .captures(s)
    {
        let parts = split_commas(&c["l"])
            .into_iter()
            .map(|p| p.trim().to_string())
            .collect();
        return Ok((c["t"].to_string(), parts, None));
    }
    let (table, columns) = column_list(s)?;
    Ok((table, columns, None))
}

fn add_index(c: &Captures<'_>) -> Result<Parsed, String> {
    let (table, columns, m0) = index_target(req(c, "target"))?;
    let method = [get(c, "m1"), get(c, "m2"), get(c, "m3"), m0.as_deref()]
        .into_iter()
        .flatten()
        .next()
        .map(|m| m.to_ascii_lowercase().replace('-', ""));
    if let Some(m) = &method {
        if !["btree", "hash", "gin", "gist", "brin", "spgist"].contains(&m.as_str()) {
            return Err(format!(
                "`{m}` is not an index method: use btree, hash, gin, gist, brin or spgist"
            ));
        }
    }
    done(
        Change::AddIndex {
            table,
            columns,
            name: get(c, "name").or(get(c, "name2")).map(str::to_string),
            unique: get(c, "u1").is_some() || get(c, "u2").is_some(),
            method,
            predicate: get(c, "pred").map(str::to_string),
        },
        Vec::new(),
    )
}

fn drop_index(c: &Captures<'_>) -> Result<Parsed, String> {
    let name = req(c, "n");
    if NOT_COLUMNS.contains(&name.to_ascii_lowercase().as_str()) || name.eq_ignore_ascii_case("on")
    {
        return Err("name the index to drop, e.g. `drop index users_email_idx`".into());
    }
    done(
        Change::DropIndex {
            name: name.to_string(),
            table: get(c, "t").map(str::to_string),
        },
        Vec::new(),
    )
}

fn drop_index_unnamed(_: &Captures<'_>) -> Result<Parsed, String> {
    Err("name the index to drop, e.g. `drop index users_email_idx` (psql's `\\d <table>` lists them)".into())
}

fn other_object(c: &Captures<'_>) -> Result<Parsed, String> {
    Err(format!(
        "a {} is out of scope: schemashift plans changes to tables, columns, indexes, constraints and enum values",
        req(c, "what").to_ascii_lowercase()
    ))
}

fn drop_constraint(_: &Captures<'_>) -> Result<Parsed, String> {
    Err("dropping a constraint is not a change schemashift plans: supported drops are columns, tables, indexes, NOT NULL and defaults".into())
}

fn add_unique(c: &Captures<'_>) -> Result<Parsed, String> {
    let (table, columns) = column_list(req(c, "cols"))?;
    let name = get(c, "name").or(get(c, "name2")).map(str::to_string);
    done(
        Change::AddUniqueConstraint {
            table,
            columns,
            name,
        },
        Vec::new(),
    )
}

fn add_primary_key(c: &Captures<'_>) -> Result<Parsed, String> {
    let (table, columns) = column_list(req(c, "cols"))?;
    let name = get(c, "name").or(get(c, "name2")).map(str::to_string);
    done(
        Change::AddPrimaryKey {
            table,
            columns,
            name,
        },
        Vec::new(),
    )
}

const ON_DELETE: &[&str] = &[
    "cascade",
    "set null",
    "set default",
    "restrict",
    "no action",
];

fn add_foreign_key(c: &Captures<'_>) -> Result<Parsed, String> {
    let (table, columns) = column_list(req(c, "src"))?;
    let tail = re!(r"(?P<d>.+?)(?: on delete (?P<a>.+?))?(?:,? (?:with )?(?P<c>cascad(?:e|ing)(?: deletes?| on delete)?|delete cascade))?(?: (?:named|called) (?P<n>{id}))?")
        .captures(req(c, "dst"))
        .ok_or("no referenced table given: write `... to customers.id`")?;
    let dst = req(&tail, "d");
    if re!(r".* on update .*").is_match(dst) {
        return Err("`on update` actions are not supported; only `on delete`".into());
    }
    let on_delete = match (get(&tail, "a"), get(&tail, "c")) {
        (Some(a), _) => {
            let a = a
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase();
            let a = match a.as_str() {
                "nothing" | "do nothing" => "no action".to_string(),
                "null" => "set null".to_string(),
                _ => a,
            };
            if !ON_DELETE.contains(&a.as_str()) {
                return Err(format!(
                    "on delete `{a}` is not an action: use one of {}",
                    ON_DELETE.join(", ")
                ));
            }
            Some(a)
        }
        (None, Some(_)) => Some("cascade".to_string()),
        (None, None) => None,
    };
    let (references_table, references_columns) = fk_target(dst)?;
    let mut notes = Vec::new();
    // `to billing.customers` reads as table.column like everywhere else; say
    // so unless the column is the usual `id`.
    if let [column] = references_columns.as_slice() {
        if !dst.contains('(') && !column.eq_ignore_ascii_case("id") {
            notes.push(format!(
                "read `{dst}` as column {column} of table {references_table}; for a schema-qualified table write `{dst}(id)`"
            ));
        }
    }
    if references_columns.is_empty() {
        if columns.len() > 1 {
            return Err(format!("a multi-column foreign key needs the referenced columns: write `... references {references_table}(a, b)`"));
        }
        notes.push(format!("assumed it references {references_table}.id"));
    }
    let name = get(c, "name").or(get(&tail, "n")).map(str::to_string);
    done(
        Change::AddForeignKey {
            table,
            columns,
            references_table,
            references_columns,
            name,
            on_delete,
        },
        notes,
    )
}

/// `customers`, `customers.id`, `customers(id)`, `billing.customers(id)`.
fn fk_target(raw: &str) -> Result<(String, Vec<String>), String> {
    let s = re!(r"(?:the )?(?:table )?(?P<rest>.+?)(?: table)?")
        .captures(raw.trim())
        .map_or(raw.trim(), |c| c.name("rest").map_or("", |m| m.as_str()));
    if let Some(c) = re!(r"(?P<t>{tbl}) ?\((?P<l>[^()]+)\)").captures(s) {
        return Ok((c["t"].to_string(), names(&c["l"])?));
    }
    if re!(r"{q}").is_match(s) {
        if let Some((last, owner)) = split_dotted(s).split_last() {
            return Ok(if owner.is_empty() {
                (last.clone(), Vec::new())
            } else {
                (owner.join("."), vec![last.clone()])
            });
        }
    }
    Err(format!("`{s}` is not a table or table.column to reference"))
}

fn starts_with_operator(e: &str) -> bool {
    re!(r"(?:>=|<=|<>|!=|=|>|<|~|is |in |between |like |ilike |not ).*").is_match(e)
}

fn add_check_on_table(c: &Captures<'_>) -> Result<Parsed, String> {
    let (t, e) = (req(c, "t"), req(c, "e"));
    let name = get(c, "name").map(str::to_string);
    let parts = split_dotted(t);
    let (table, expression) = if starts_with_operator(e) && parts.len() >= 2 {
        (
            parts[..parts.len() - 1].join("."),
            format!("{} {e}", parts[parts.len() - 1]),
        )
    } else if parts.len() <= 2 {
        (t.to_string(), e.to_string())
    } else {
        return Err(format!("`{t}` is not a table name"));
    };
    if expression.is_empty() {
        return Err(
            "no condition given: write `add check constraint on orders: amount >= 0`".into(),
        );
    }
    done(
        Change::AddCheckConstraint {
            table,
            expression,
            name,
        },
        Vec::new(),
    )
}

/// `add check orders.amount >= 0`: the table comes from the qualified column.
fn add_check_qualified(c: &Captures<'_>) -> Result<Parsed, String> {
    let e = req(c, "e");
    let Some(m) =
        re!(r"(?P<c>{q}) ?(?P<rest>(?:>=|<=|<>|!=|=|>|<|~|is |in |between |like |ilike |not ).*)")
            .captures(e)
    else {
        return Err(format!("no table found for the check `{e}`: write `add check constraint on orders: amount >= 0`"));
    };
    let (table, column) = column_ref(&m["c"])?;
    let rest = m["rest"].trim();
    let expression = rest
        .strip_prefix("is ")
        .and_then(|p| condition(&column, p))
        .unwrap_or_else(|| format!("{column} {rest}"));
    done(
        Change::AddCheckConstraint {
            table,
            expression,
            name: get(c, "name").map(str::to_string),
        },
        Vec::new(),
    )
}

fn add_check_condition(c: &Captures<'_>) -> Result<Parsed, String> {
    let (table, column) = column_ref(req(c, "col"))?;
    let phrase = req(c, "cmp");
    let Some(expression) = condition(&column, phrase) else {
        return Err(format!(
            "did not understand the condition `{phrase}`: write a comparison such as `>= 0`, `positive`, `between 1 and 5` or `one of ('a', 'b')`"
        ));
    };
    done(
        Change::AddCheckConstraint {
            table,
            expression,
            name: None,
        },
        Vec::new(),
    )
}

fn split_column(c: &Captures<'_>) -> Result<Parsed, String> {
    let (table, column) = column_ref(req(c, "col"))?;
    let mut notes = Vec::new();
    let mut into = Vec::new();
    for item in split_items(req(c, "l")) {
        let Some(m) = re!(r"(?P<n>{id})(?: (?P<t>.+))?").captures(&item) else {
            return Err(format!("`{item}` is not a new column name"));
        };
        let data_type = m
            .name("t")
            .map(|t| data_type(t.as_str(), &mut notes))
            .transpose()?;
        into.push(ColumnSpec {
            name: m["n"].to_string(),
            data_type,
            not_null: false,
            default: None,
            primary_key: false,
            expression: None,
        });
    }
    if into.len() < 2 {
        return Err(format!(
            "a split needs at least two new columns: write `split {table}.{column} into street, city and zip`"
        ));
    }
    done(
        Change::SplitColumn {
            table,
            column,
            into,
        },
        notes,
    )
}

fn merge_columns(c: &Captures<'_>) -> Result<Parsed, String> {
    let (table, columns) = column_list(req(c, "cols"))?;
    if columns.len() < 2 {
        return Err("merging needs at least two columns: write `merge users.first_name and users.last_name into full_name`".into());
    }
    let mut notes = Vec::new();
    let data_type = get(c, "ty").map(|t| data_type(t, &mut notes)).transpose()?;
    done(
        Change::MergeColumns {
            table,
            columns,
            into: req(c, "into").to_string(),
            data_type,
            expression: get(c, "e").map(str::to_string),
        },
        notes,
    )
}

fn merge_tables(c: &Captures<'_>) -> Result<Parsed, String> {
    let (table, other) = (req(c, "t").to_string(), req(c, "other").to_string());
    let Some(list) = get(c, "l") else {
        return Err(format!(
            "name the columns of {other} to keep, e.g. `merge bio, avatar_url from {other} into {table}`; to merge columns into one, name at least two: `merge users.first_name and users.last_name into full_name`"
        ));
    };
    let columns = names(list)?;
    let mut notes = Vec::new();
    let key = key_note(get(c, "k").or(get(c, "k2")), &other, &table, &mut notes);
    done(
        Change::MergeTables {
            table,
            other,
            columns,
            key,
        },
        notes,
    )
}

fn move_column(c: &Captures<'_>) -> Result<Parsed, String> {
    let (from_table, column) = column_ref(req(c, "col"))?;
    let mut to_table = req(c, "t").to_string();
    // "move users.bio to profiles.bio" names the target column too (a
    // last part that is not the column is a schema-qualified table).
    if let Some((table, target)) = to_table.rsplit_once('.') {
        if target.eq_ignore_ascii_case(&column) {
            to_table = table.to_string();
        }
    }
    let mut notes = Vec::new();
    let key = key_note(get(c, "k"), &to_table, &from_table, &mut notes);
    done(
        Change::MoveColumn {
            column,
            from_table,
            to_table,
            data_type: None,
            key,
        },
        notes,
    )
}

fn move_several(c: &Captures<'_>) -> Result<Parsed, String> {
    let (table, columns) = column_list(req(c, "src"))?;
    let to = req(c, "t");
    if let [column] = columns.as_slice() {
        let mut notes = Vec::new();
        let key = key_note(None, to, &table, &mut notes);
        return done(
            Change::MoveColumn {
                column: column.clone(),
                from_table: table,
                to_table: to.to_string(),
                data_type: None,
                key,
            },
            notes,
        );
    }
    Err(format!(
        "moving several columns into an existing table is one move per column; to move them into a new table write `move {} from {table} into a new table {to}`",
        columns.join(", ")
    ))
}

fn split_table(c: &Captures<'_>) -> Result<Parsed, String> {
    let (table, columns) = column_list(req(c, "src"))?;
    let new_table = req(c, "t").to_string();
    // `split customers.address into street` names one column and one target:
    // a column split needs two names, and nothing says "new table" either.
    let says_table = get(c, "new").is_some()
        || get(c, "out").is_some()
        || re!(r".* out of .*").is_match(req(c, "src"))
        || !["split", "break", "separate"].contains(&req(c, "verb").to_ascii_lowercase().as_str());
    if columns.len() == 1 && !says_table {
        let column = &columns[0];
        return Err(format!(
            "a split names at least two new columns (`split {table}.{column} into street, city and zip`); to move the column to a new table write `extract {table}.{column} into a new table {new_table}`"
        ));
    }
    let mut notes = Vec::new();
    let key = key_note(get(c, "k"), &new_table, &table, &mut notes);
    done(
        Change::SplitTable {
            table,
            new_table,
            columns,
            key,
        },
        notes,
    )
}

/// An enum change only when the request says `enum`/`value` or quotes a
/// value: `add refunded to order_status` could as well be a column.
fn enum_signal(c: &Captures<'_>, values: &[&str]) -> Result<(), String> {
    let said = ["kw", "e1", "e2"].iter().any(|n| c.name(n).is_some())
        || values.iter().any(|v| v.starts_with('\''));
    if said {
        return Ok(());
    }
    let (v, t) = (label(values[0]), req(c, "t"));
    Err(format!(
        "`{v}` could be a column or an enum value: write `add column {t}.{v} text` or `add '{v}' to the {t} enum`"
    ))
}

/// `'paid'`, `"paid"`, `paid` -> `paid`.
fn label(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        v[1..v.len() - 1].replace("''", "'")
    } else if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        v[1..v.len() - 1].replace("\"\"", "\"")
    } else {
        v.to_string()
    }
}

fn enum_add(c: &Captures<'_>) -> Result<Parsed, String> {
    let value = req(c, "v");
    enum_signal(c, &[value])?;
    if get(c, "pos0").is_some() && get(c, "pos").is_some() {
        return Err("give one position, `before` or `after`".into());
    }
    let pos = get(c, "pos")
        .or(get(c, "pos0"))
        .map(str::to_ascii_lowercase);
    let place = get(c, "p").or(get(c, "p0")).map(label);
    let (before, after) = match pos.as_deref() {
        Some("before") => (place, None),
        Some(_) => (None, place),
        None => (None, None),
    };
    done(
        Change::EnumChange {
            type_name: req(c, "t").to_string(),
            operation: EnumOp::AddValue {
                value: label(value),
                before,
                after,
            },
        },
        Vec::new(),
    )
}

fn enum_rename(c: &Captures<'_>) -> Result<Parsed, String> {
    let (from, to) = (req(c, "from"), req(c, "to"));
    enum_signal(c, &[from, to])?;
    done(
        Change::EnumChange {
            type_name: req(c, "t").to_string(),
            operation: EnumOp::RenameValue {
                from: label(from),
                to: label(to),
            },
        },
        Vec::new(),
    )
}

fn enum_remove(c: &Captures<'_>) -> Result<Parsed, String> {
    let value = req(c, "v");
    enum_signal(c, &[value])?;
    done(
        Change::EnumChange {
            type_name: req(c, "t").to_string(),
            operation: EnumOp::RemoveValue {
                value: label(value),
                replace_with: get(c, "r").map(label),
            },
        },
        Vec::new(),
    )
}

fn backfill(c: &Captures<'_>) -> Result<Parsed, String> {
    let (table, column) = column_ref(req(c, "col"))?;
    let mut notes = Vec::new();
    let fill = fill_from(req(c, "e"), &table, None, &mut notes)?;
    done(
        Change::BackfillOnly {
            table,
            column,
            fill,
            predicate: get(c, "p").map(str::to_string),
        },
        notes,
    )
}

fn backfill_incomplete(c: &Captures<'_>) -> Result<Parsed, String> {
    let col = req(c, "col");
    Err(format!(
        "say what to fill `{col}` with, e.g. `backfill users.email_lower with lower(email)`"
    ))
}

// ---------------------------------------------------------------------------
// Why nothing matched

/// Verbs the rules start with; a request starting with another word gets
/// "unknown verb" rather than a guess.
#[rustfmt::skip]
const VERBS: &[&str] = &[
    "add", "alter", "allow", "append", "backfill", "break", "bump", "call", "cast", "change",
    "check", "combine", "compute", "concatenate", "convert", "create", "declare", "default",
    "delete", "disallow", "drop", "enforce", "ensure", "expand", "extend", "extract", "fill",
    "fold", "forbid", "give", "grow", "increase", "index", "introduce", "link", "make", "mark",
    "merge", "migrate", "modify", "move", "narrow", "permit", "populate", "promote", "pull", "put",
    "recalculate", "recompute", "relocate", "remove", "rename", "require", "retype", "separate",
    "set", "shrink", "split", "switch", "turn", "unset", "widen",
];

/// Greenfield design, query tuning and DBA operations: not a change to plan.
fn out_of_scope(request: &str) -> bool {
    re!(r"(?:why|how|what|which|when|should i|is it|can i|do i|design|architect|tune|optimi[sz]e|explain|analy[sz]e|vacuum|benchmark|monitor|backup|restore|grant|revoke)\b.*").is_match(request)
        || re!(r".*\b(?:design|schema for|slow|faster|speed up|performance|tune|tuning|autovacuum|vacuum|explain|optimi[sz]e|query plan|queries|backup|restore|replication|failover|sharding|permissions?|pgbouncer|connection pool\w*|bloat|deadlocks?|best practices?)\b.*").is_match(request)
}

fn unmatched_reason(request: &str, first_reason: Option<String>) -> String {
    let verb = request
        .split(' ')
        .next()
        .unwrap_or("")
        .trim_end_matches([':', ','])
        .to_ascii_lowercase();
    let known = VERBS.contains(&verb.as_str());
    if !known && out_of_scope(request) {
        return "this is out of scope: schemashift plans one change to an existing schema, not schema design, query tuning or database operations. A change request looks like `rename users.username to handle` or `add index on orders(customer_id)`".into();
    }
    if let Some(reason) = first_reason {
        return reason;
    }
    if re!(r"(?:alter table|update \S+ set|insert into|begin)\b.*").is_match(request) {
        return "this reads as SQL: pass it as `sql` instead of `request`".into();
    }
    if !known {
        if column_ref(&verb).is_ok() {
            return format!("no verb found: start with what to do, e.g. `make {verb} required` or `drop {verb}`");
        }
        return format!("unknown verb `{verb}`: start with one of rename, change, add, drop, make, set, index, split, merge, move, backfill");
    }
    let has_column = re!(r".*(?:{id}\.{id}|\(| (?:on|in|of|from) ).*").is_match(request);
    if !has_column {
        return format!("no table.column found after `{verb}`: name the column as `users.email` or `email on users`");
    }
    let examples: Vec<&str> = ACCEPTED_FORMS
        .iter()
        .copied()
        .filter(|f| f.starts_with(&format!("{verb} ")))
        .take(4)
        .collect();
    if examples.is_empty() {
        format!("`{verb}` was recognised but the rest of the request was not; see the accepted forms below")
    } else {
        format!(
            "`{verb}` was recognised but the rest of the request was not; forms with `{verb}`: {}",
            examples.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::ChangeType;

    /// Parses and validates, failing the test with the reason either way.
    fn ok(text: &str) -> Parsed {
        let p = parse(text).unwrap_or_else(|e| panic!("`{text}` did not parse: {}", e.reason));
        if let Err(e) = p.change.validate(Engine::Postgres) {
            panic!(
                "`{text}` parsed to {:?}, which does not validate: {e}",
                p.change
            );
        }
        p
    }

    fn reason(text: &str) -> String {
        match parse(text) {
            Ok(p) => panic!("`{text}` should not parse, but gave {:?}", p.change),
            Err(e) => e.reason,
        }
    }

    fn s(x: &str) -> String {
        x.to_string()
    }

    fn spec(name: &str) -> ColumnSpec {
        ColumnSpec {
            name: s(name),
            data_type: None,
            not_null: false,
            default: None,
            primary_key: false,
            expression: None,
        }
    }

    fn lookup(table: &str, column: &str) -> Option<Fill> {
        Some(Fill::Lookup {
            table: s(table),
            column: s(column),
            local_key: None,
            remote_key: None,
        })
    }

    fn expr(e: &str) -> Fill {
        Fill::Expression { expression: s(e) }
    }

    fn index(table: &str, columns: &[&str]) -> Change {
        Change::AddIndex {
            table: s(table),
            columns: columns.iter().map(|c| s(c)).collect(),
            name: None,
            unique: false,
            method: None,
            predicate: None,
        }
    }

    #[test]
    fn examples_parse_to_the_full_change() {
        let rename = Change::RenameColumn {
            table: s("users"),
            column: s("username"),
            new_name: s("handle"),
        };
        let rename_table = Change::RenameTable {
            table: s("users"),
            new_name: s("accounts"),
        };
        let amount = |from: Option<&str>, to: &str| Change::ChangeColumnType {
            table: s("orders"),
            column: s("amount"),
            from_type: from.map(s),
            to_type: s(to),
            using: None,
        };
        let drop_flag = Change::DropColumn {
            table: s("users"),
            column: s("legacy_flag"),
        };
        let audit = Change::DropTable {
            table: s("audit_log"),
        };
        let not_null = Change::SetNotNull {
            table: s("users"),
            column: s("email"),
        };
        let nullable = Change::DropNotNull {
            table: s("users"),
            column: s("email"),
        };
        let active = |d: Option<&str>| Change::SetDefault {
            table: s("users"),
            column: s("active"),
            default: d.map(s),
        };
        let unique_email = Change::AddUniqueConstraint {
            table: s("users"),
            columns: vec![s("email")],
            name: None,
        };
        let pk = Change::AddPrimaryKey {
            table: s("events"),
            columns: vec![s("id")],
            name: None,
        };
        let check = Change::AddCheckConstraint {
            table: s("orders"),
            expression: s("amount >= 0"),
            name: None,
        };
        let split = Change::SplitColumn {
            table: s("customers"),
            column: s("address"),
            into: vec![spec("street"), spec("city"), spec("zip")],
        };
        let merge = Change::MergeColumns {
            table: s("users"),
            columns: vec![s("first_name"), s("last_name")],
            into: s("full_name"),
            data_type: None,
            expression: None,
        };
        let moved = Change::MoveColumn {
            column: s("preferences"),
            from_table: s("users"),
            to_table: s("user_settings"),
            data_type: None,
            key: None,
        };
        let billing = Change::SplitTable {
            table: s("users"),
            new_table: s("user_billing"),
            columns: vec![s("card_last4"), s("card_brand")],
            key: None,
        };
        let email_lower = Change::BackfillOnly {
            table: s("users"),
            column: s("email_lower"),
            fill: expr("lower(email)"),
            predicate: None,
        };
        let cases: Vec<(&str, Change)> = vec![
            ("rename users.username to handle", rename.clone()),
            ("rename column username on users to handle", rename.clone()),
            ("rename username to handle in users", rename),
            ("rename the users table to accounts", rename_table.clone()),
            ("rename table users to accounts", rename_table),
            ("change orders.amount from integer to bigint", amount(Some("integer"), "bigint")),
            ("change orders.amount to bigint", amount(None, "bigint")),
            ("convert orders.amount to bigint", amount(None, "bigint")),
            (
                "widen users.display_name from varchar(100) to varchar(255)",
                Change::ChangeColumnType {
                    table: s("users"),
                    column: s("display_name"),
                    from_type: Some(s("varchar(100)")),
                    to_type: s("varchar(255)"),
                    using: None,
                },
            ),
            ("alter type of orders.amount to numeric(12,2)", amount(None, "numeric(12,2)")),
            ("make orders.amount a bigint", amount(None, "bigint")),
            (
                "add non-null org_id to invoices from accounts.organisation_id",
                Change::AddNotNullColumn {
                    table: s("invoices"),
                    column: s("org_id"),
                    data_type: s("bigint"),
                    default: None,
                    fill: lookup("accounts", "organisation_id"),
                },
            ),
            (
                "add required column status text default 'new' to orders",
                Change::AddNotNullColumn {
                    table: s("orders"),
                    column: s("status"),
                    data_type: s("text"),
                    default: Some(s("'new'")),
                    fill: None,
                },
            ),
            (
                "add orders.status text not null default 'pending'",
                Change::AddNotNullColumn {
                    table: s("orders"),
                    column: s("status"),
                    data_type: s("text"),
                    default: Some(s("'pending'")),
                    fill: None,
                },
            ),
            (
                "add a non-nullable column invoices.org_id bigint filled with 0",
                Change::AddNotNullColumn {
                    table: s("invoices"),
                    column: s("org_id"),
                    data_type: s("bigint"),
                    default: None,
                    fill: Some(expr("0")),
                },
            ),
            (
                "add a non-nullable column users.email_lower text backfilled with lower(email)",
                Change::AddNotNullColumn {
                    table: s("users"),
                    column: s("email_lower"),
                    data_type: s("text"),
                    default: None,
                    fill: Some(expr("lower(email)")),
                },
            ),
            (
                "add column users.nickname text",
                Change::AddColumn { table: s("users"), column: s("nickname"), data_type: s("text"), default: None },
            ),
            (
                "add nickname text to users",
                Change::AddColumn { table: s("users"), column: s("nickname"), data_type: s("text"), default: None },
            ),
            (
                "add nullable users.deleted_at timestamptz",
                Change::AddColumn {
                    table: s("users"),
                    column: s("deleted_at"),
                    data_type: s("timestamptz"),
                    default: None,
                },
            ),
            (
                "add column users.score integer default 0",
                Change::AddColumn {
                    table: s("users"),
                    column: s("score"),
                    data_type: s("integer"),
                    default: Some(s("0")),
                },
            ),
            ("drop users.legacy_flag", drop_flag.clone()),
            ("remove column legacy_flag from users", drop_flag.clone()),
            ("drop column users.legacy_flag", drop_flag),
            ("drop table audit_log", audit.clone()),
            ("remove the audit_log table", audit),
            ("make users.email required", not_null.clone()),
            ("make users.email not null", not_null.clone()),
            ("set users.email not null", not_null.clone()),
            ("users.email must not be null", not_null),
            ("make users.email optional", nullable.clone()),
            ("make users.email nullable", nullable.clone()),
            ("drop not null on users.email", nullable.clone()),
            ("allow nulls in users.email", nullable),
            ("set default of users.active to true", active(Some("true"))),
            ("default users.active to true", active(Some("true"))),
            ("drop default on users.active", active(None)),
            (
                "add unique index on users.email",
                Change::AddIndex {
                    table: s("users"),
                    columns: vec![s("email")],
                    name: None,
                    unique: true,
                    method: None,
                    predicate: None,
                },
            ),
            ("add index on orders(customer_id, created_at)", index("orders", &["customer_id", "created_at"])),
            ("index orders.customer_id", index("orders", &["customer_id"])),
            (
                "create index orders_customer_idx on orders (customer_id)",
                Change::AddIndex {
                    table: s("orders"),
                    columns: vec![s("customer_id")],
                    name: Some(s("orders_customer_idx")),
                    unique: false,
                    method: None,
                    predicate: None,
                },
            ),
            (
                "add gin index on docs.body",
                Change::AddIndex {
                    table: s("docs"),
                    columns: vec![s("body")],
                    name: None,
                    unique: false,
                    method: Some(s("gin")),
                    predicate: None,
                },
            ),
            (
                "add unique index on users (lower(email))",
                Change::AddIndex {
                    table: s("users"),
                    columns: vec![s("lower(email)")],
                    name: None,
                    unique: true,
                    method: None,
                    predicate: None,
                },
            ),
            (
                "add btree index on orders (customer_id) where deleted_at is null",
                Change::AddIndex {
                    table: s("orders"),
                    columns: vec![s("customer_id")],
                    name: None,
                    unique: false,
                    method: Some(s("btree")),
                    predicate: Some(s("deleted_at is null")),
                },
            ),
            ("drop index users_email_idx", Change::DropIndex { name: s("users_email_idx"), table: None }),
            ("add unique constraint on users.email", unique_email.clone()),
            ("make users.email unique", unique_email),
            ("add primary key on events(id)", pk.clone()),
            ("make events.id the primary key", pk),
            (
                "add foreign key from orders.customer_id to customers.id",
                Change::AddForeignKey {
                    table: s("orders"),
                    columns: vec![s("customer_id")],
                    references_table: s("customers"),
                    references_columns: vec![s("id")],
                    name: None,
                    on_delete: None,
                },
            ),
            (
                "add fk orders.customer_id references customers",
                Change::AddForeignKey {
                    table: s("orders"),
                    columns: vec![s("customer_id")],
                    references_table: s("customers"),
                    references_columns: vec![],
                    name: None,
                    on_delete: None,
                },
            ),
            (
                "orders.customer_id references customers(id) on delete cascade",
                Change::AddForeignKey {
                    table: s("orders"),
                    columns: vec![s("customer_id")],
                    references_table: s("customers"),
                    references_columns: vec![s("id")],
                    name: None,
                    on_delete: Some(s("cascade")),
                },
            ),
            ("add check constraint on orders: amount >= 0", check.clone()),
            ("add check amount >= 0 to orders", check.clone()),
            ("orders.amount must be >= 0", check),
            ("split customers.address into street, city, zip", split.clone()),
            ("split address on customers into street, city and zip", split),
            ("merge users.first_name and users.last_name into full_name", merge.clone()),
            ("combine first_name, last_name on users into full_name", merge),
            ("move preferences from users into user_settings", moved.clone()),
            ("move users.preferences to user_settings", moved.clone()),
            ("move users.preferences to user_settings.preferences", moved),
            ("split billing columns (card_last4, card_brand) out of users into user_billing", billing.clone()),
            ("move users columns card_last4, card_brand into a new table user_billing", billing.clone()),
            ("extract card_last4 and card_brand from users into user_billing", billing),
            (
                "merge bio, avatar_url from user_profiles into users",
                Change::MergeTables {
                    table: s("users"),
                    other: s("user_profiles"),
                    columns: vec![s("bio"), s("avatar_url")],
                    key: None,
                },
            ),
            (
                "create table audit_log (id bigint primary key, payload jsonb not null, created_at timestamptz default now())",
                Change::CreateTable {
                    table: s("audit_log"),
                    columns: vec![
                        ColumnSpec {
                            data_type: Some(s("bigint")),
                            not_null: true,
                            primary_key: true,
                            ..spec("id")
                        },
                        ColumnSpec { data_type: Some(s("jsonb")), not_null: true, ..spec("payload") },
                        ColumnSpec {
                            data_type: Some(s("timestamptz")),
                            default: Some(s("now()")),
                            ..spec("created_at")
                        },
                    ],
                },
            ),
            (
                "add 'refunded' to the order_status enum after 'paid'",
                Change::EnumChange {
                    type_name: s("order_status"),
                    operation: EnumOp::AddValue { value: s("refunded"), before: None, after: Some(s("paid")) },
                },
            ),
            (
                "add value refunded to enum order_status before 'cancelled'",
                Change::EnumChange {
                    type_name: s("order_status"),
                    operation: EnumOp::AddValue {
                        value: s("refunded"),
                        before: Some(s("cancelled")),
                        after: None,
                    },
                },
            ),
            (
                "rename enum value 'pending' to 'awaiting' in order_status",
                Change::EnumChange {
                    type_name: s("order_status"),
                    operation: EnumOp::RenameValue { from: s("pending"), to: s("awaiting") },
                },
            ),
            (
                "remove 'legacy' from the order_status enum",
                Change::EnumChange {
                    type_name: s("order_status"),
                    operation: EnumOp::RemoveValue { value: s("legacy"), replace_with: None },
                },
            ),
            ("backfill users.email_lower with lower(email)", email_lower.clone()),
            ("fill users.email_lower from lower(email)", email_lower),
            (
                "recompute orders.total as price * quantity",
                Change::BackfillOnly {
                    table: s("orders"),
                    column: s("total"),
                    fill: expr("price * quantity"),
                    predicate: None,
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(ok(text).change, want, "{text}");
        }
    }

    /// At least three more phrasings per change type, checked for the kind
    /// of change and for passing validation.
    const PHRASINGS: &[(ChangeType, &[&str])] = &[
        (
            ChangeType::AddColumn,
            &[
                "add field users.nickname text",
                "create column users.nickname varchar(40)",
                "add a new column called nickname text to users",
                "add users.deleted_at timestamp with time zone",
                "add orders.total numeric(12, 2) default 0",
                "introduce users.nickname text",
                "add column nickname to users",
                "add column billing.invoices.memo text",
            ],
        ),
        (
            ChangeType::AddNotNullColumn,
            &[
                "add users.ratio double precision not null default 0",
                "add mandatory column orders.priority int default 0",
                "add users.score int filled with 0",
                "add required org_id bigint to invoices from accounts.organisation_id joined on invoices.account_id = accounts.id",
                "add org_id to invoices from accounts.organisation_id via account_id",
                "add orders.currency text not null with default 'EUR'",
            ],
        ),
        (
            ChangeType::DropColumn,
            &[
                "delete users.legacy_flag",
                "get rid of users.legacy_flag",
                "remove legacy_flag from users",
                "drop the legacy_flag column from users",
                "drop legacy_flag on users",
            ],
        ),
        (
            ChangeType::RenameColumn,
            &[
                "change the name of users.username to handle",
                "call users.username handle instead",
                "users.username should be called handle",
                "rename users.username -> handle",
                "rename billing.users.username to handle",
                "rename the username column of users to handle",
            ],
        ),
        (
            ChangeType::ChangeColumnType,
            &[
                "change orders.amount column type from integer to bigint",
                "change orders.amount type to bigint",
                "alter column orders.amount type bigint",
                "convert orders.amount to bigint using amount::bigint",
                "make orders.amount bigint instead of integer",
                "orders.amount should be a bigint",
                "set the type of orders.amount to bigint",
                "migrate orders.amount to numeric(12, 2)",
                "change the data type of users.created_at to timestamp with time zone",
                "narrow users.code from text to varchar(10)",
                "change type of amount on orders to bigint",
                "change the type of orders.status to order_status",
            ],
        ),
        (
            ChangeType::SetNotNull,
            &[
                "mark users.email as required",
                "make users.email non-nullable",
                "make email on users mandatory",
                "make the email column of users required",
                "users.email is required",
                "users.email cannot be null",
                "add not null constraint to users.email",
                "disallow nulls in users.email",
                "require users.email",
                "change users.email to not null",
            ],
        ),
        (
            ChangeType::DropNotNull,
            &[
                "users.email can be null",
                "remove the not null constraint from users.email",
                "make users.email nullable again",
                "permit null in users.email",
                "users.email should be optional",
                "alter users.email drop not null",
            ],
        ),
        (
            ChangeType::SetDefault,
            &[
                "set the default value of users.active to true",
                "set default true on users.active",
                "users.active should default to true",
                "users.active defaults to false",
                "give users.active a default of true",
                "set users.active default to true",
                "remove default from users.active",
                "clear the default on users.active",
                "users.active should have no default",
            ],
        ),
        (
            ChangeType::AddIndex,
            &[
                "create unique index on users (email)",
                "add index on orders.customer_id using hash",
                "add an index named orders_created_idx on orders(created_at)",
                "index customer_id on orders",
                "add index on customer_id, created_at on orders",
                "build index on orders(customer_id)",
                "add index on orders(customer_id) called orders_cust_idx",
                "create unique index concurrently users_email_key on users (lower(email))",
            ],
        ),
        (
            ChangeType::DropIndex,
            &[
                "drop the users_email_idx index",
                "remove index users_email_idx on users",
                "delete index billing.users_email_idx",
                "drop index if exists users_email_idx",
            ],
        ),
        (
            ChangeType::AddUniqueConstraint,
            &[
                "add unique constraint users_email_key on users(email)",
                "add unique on users.email",
                "make users.tenant_id and users.email unique together",
                "users.email must be unique",
                "ensure uniqueness of users.email",
                "make the combination of tenant_id and email on users unique",
            ],
        ),
        (
            ChangeType::AddPrimaryKey,
            &[
                "add pk on events(id)",
                "add primary key on events (tenant_id, id)",
                "use events.id as the primary key",
                "events.id should be the primary key",
                "make tenant_id, id on events the primary key",
            ],
        ),
        (
            ChangeType::AddForeignKey,
            &[
                "add foreign key orders.customer_id references customers.id",
                "add foreign key on orders(customer_id) to customers(id) on delete set null",
                "add fk from orders.customer_id to customers named orders_customer_fkey",
                "make orders.customer_id a foreign key to customers.id",
                "link orders.customer_id to customers.id",
                "orders.customer_id points to customers",
                "orders.customer_id references customers with cascading deletes",
            ],
        ),
        (
            ChangeType::AddCheckConstraint,
            &[
                "add check on orders (amount >= 0)",
                "add check constraint positive_amount on orders: amount > 0",
                "add a check that orders.amount >= 0",
                "ensure orders.amount >= 0",
                "orders.amount must be positive",
                "orders.amount must be at least 1",
                "orders.quantity should be between 1 and 100",
                "orders.status must be one of 'a', 'b'",
                "add constraint amount_positive check (amount >= 0) to orders",
            ],
        ),
        (
            ChangeType::SplitColumn,
            &[
                "break up customers.address into street, city and zip",
                "split customers.address into street text, city text, zip varchar(10)",
                "split the address column of customers into street and city",
                "divide customers.full_name into first_name & last_name",
            ],
        ),
        (
            ChangeType::MergeColumns,
            &[
                "merge first_name and last_name on users into full_name",
                "combine users.first_name + users.last_name into full_name as first_name || ' ' || last_name",
                "concatenate first_name and last_name in users into full_name",
                "merge users(first_name, last_name) into a new column full_name of type text",
            ],
        ),
        (
            ChangeType::MoveColumn,
            &[
                "move users.preferences into the user_settings table",
                "move the preferences column from users to user_settings",
                "relocate users.preferences to user_settings keyed by owner_id",
                "transfer users.preferences to user_settings",
            ],
        ),
        (
            ChangeType::SplitTable,
            &[
                "move users.card_last4 and users.card_brand into a new table user_billing",
                "pull card_last4 and card_brand out of users into user_billing",
                "split out card_last4, card_brand from users into a new table user_billing",
                "extract users.card_last4 into user_billing keyed by owner_id",
            ],
        ),
        (
            ChangeType::MergeTables,
            &[
                "fold user_profiles into users keeping bio, avatar_url",
                "merge user_profiles (bio, avatar_url) into users",
                "combine the user_profiles table into users, keeping bio and avatar_url",
                "merge user_profiles into users keyed by owner_id keeping bio",
            ],
        ),
        (
            ChangeType::RenameTable,
            &[
                "call the users table accounts",
                "change the name of table users to accounts",
                "rename table billing.users to accounts",
                "the users table should be called accounts",
            ],
        ),
        (
            ChangeType::DropTable,
            &[
                "delete the audit_log table",
                "get rid of table audit_log",
                "drop table billing.audit_log",
                "drop the whole audit_log table",
            ],
        ),
        (
            ChangeType::CreateTable,
            &[
                "create a new table audit_log with id bigint primary key, payload jsonb not null",
                "create table audit_log with columns id bigserial primary key and note text",
                "add table audit_log (id bigint, at timestamptz, primary key (id))",
                "create table audit_log (user_id, note)",
                "create the audit_log table with id bigint primary key",
            ],
        ),
        (
            ChangeType::EnumChange,
            &[
                "add 'refunded' after 'paid' to order_status enum",
                "add the value 'refunded' to order_status",
                "add label refunded to enum type order_status",
                "extend the order_status enum with 'refunded'",
                "rename 'pending' to 'awaiting' in order_status",
                "rename value pending to awaiting in the order_status enum",
                "change enum value 'pending' to 'awaiting' in order_status",
                "remove value legacy from enum order_status",
                "drop 'legacy' from order_status, replacing it with 'archived'",
                "delete the label 'legacy' from the order_status enum",
            ],
        ),
        (
            ChangeType::BackfillOnly,
            &[
                "backfill users.email_lower with lower(email) where email_lower is null",
                "populate users.email_lower using lower(email)",
                "recalculate orders.total = price * quantity",
                "backfill invoices.org_id from accounts.organisation_id",
                "fill in email_lower on users with lower(email)",
                "compute orders.total as price * quantity for rows where total is null",
            ],
        ),
    ];

    #[test]
    fn phrasings_reach_the_right_change_type() {
        for (want, texts) in PHRASINGS {
            assert!(texts.len() >= 3, "{want}: fewer than three phrasings");
            for text in *texts {
                assert_eq!(ok(text).change.change_type(), *want, "{text}");
            }
        }
    }

    #[test]
    fn every_change_type_has_phrasings() {
        for t in ChangeType::ALL {
            assert!(
                PHRASINGS.iter().any(|(p, _)| *p == t),
                "no phrasings for {t}"
            );
        }
    }

    #[test]
    fn accepted_forms_all_parse_and_validate() {
        for form in ACCEPTED_FORMS {
            ok(form);
        }
    }

    #[test]
    fn details_are_read() {
        let c = ok("add foreign key on orders(customer_id) to customers(id) on delete set null named orders_cust_fk").change;
        assert!(
            matches!(c, Change::AddForeignKey { ref on_delete, ref name, .. }
            if on_delete.as_deref() == Some("set null") && name.as_deref() == Some("orders_cust_fk"))
        );
        let c = ok("convert orders.amount to bigint using amount::bigint").change;
        assert!(
            matches!(c, Change::ChangeColumnType { ref using, .. } if using.as_deref() == Some("amount::bigint"))
        );
        let c = ok("drop 'legacy' from order_status, replacing it with 'archived'").change;
        assert!(
            matches!(c, Change::EnumChange { operation: EnumOp::RemoveValue { ref replace_with, .. }, .. }
            if replace_with.as_deref() == Some("archived"))
        );
        let c = ok("add orders.total numeric(12, 2) default 0").change;
        assert!(
            matches!(c, Change::AddColumn { ref data_type, .. } if data_type == "numeric(12, 2)")
        );
        let c = ok("add required org_id bigint to invoices from accounts.organisation_id joined on invoices.account_id = accounts.id").change;
        assert!(
            matches!(c, Change::AddNotNullColumn { fill: Some(Fill::Lookup { ref local_key, ref remote_key, .. }), .. }
            if local_key.as_deref() == Some("account_id") && remote_key.as_deref() == Some("id"))
        );
        let c = ok("backfill invoices.org_id from accounts.organisation_id").change;
        assert!(matches!(
            c,
            Change::BackfillOnly {
                fill: Fill::Lookup { .. },
                ..
            }
        ));
        let c = ok("merge users(first_name, last_name) into a new column full_name of type text")
            .change;
        assert!(
            matches!(c, Change::MergeColumns { ref data_type, .. } if data_type.as_deref() == Some("text"))
        );
        let c = ok("orders.quantity should be between 1 and 100").change;
        assert!(
            matches!(c, Change::AddCheckConstraint { ref expression, .. } if expression == "quantity BETWEEN 1 AND 100")
        );
    }

    #[test]
    fn notes_say_what_was_assumed() {
        let p = ok("add non-null org_id to invoices from accounts.organisation_id");
        assert!(
            p.notes
                .contains(&s("assumed the join key invoices.account_id = accounts.id")),
            "{:?}",
            p.notes
        );
        assert!(
            p.notes.iter().any(|n| n.contains("assumed bigint")),
            "{:?}",
            p.notes
        );
        let p = ok("add column users.nickname");
        assert!(
            p.notes.iter().any(|n| n.contains("assumed text")),
            "{:?}",
            p.notes
        );
        let p = ok("add fk orders.customer_id references customers");
        assert_eq!(p.notes, vec![s("assumed it references customers.id")]);
        let p = ok("add foreign key from orders.customer_id to billing.customers");
        assert!(
            p.notes.iter().any(|n| n.contains("billing.customers(id)")),
            "{:?}",
            p.notes
        );
        assert!(
            ok("add foreign key from orders.customer_id to customers.id")
                .notes
                .is_empty()
        );
        let p = ok("move users.preferences to user_settings");
        assert_eq!(
            p.notes,
            vec![s("assumed the key user_settings.user_id references users")]
        );
        let p = ok("add users.score int filled with 0");
        assert!(
            p.notes.iter().any(|n| n.contains("added as NOT NULL")),
            "{:?}",
            p.notes
        );
        let p = ok("change the type of orders.status to order_status");
        assert!(
            p.notes.iter().any(|n| n.contains("user-defined type")),
            "{:?}",
            p.notes
        );
        assert!(ok("rename users.username to handle").notes.is_empty());
    }

    #[test]
    fn identifiers_are_kept_as_typed() {
        let c = ok(r#"rename "Users"."UserName" to handle"#).change;
        assert_eq!(
            c,
            Change::RenameColumn {
                table: s(r#""Users""#),
                column: s(r#""UserName""#),
                new_name: s("handle")
            }
        );
        let c = ok("Rename Users.UserName TO Handle").change;
        assert_eq!(
            c,
            Change::RenameColumn {
                table: s("Users"),
                column: s("UserName"),
                new_name: s("Handle")
            }
        );
        let c = ok("drop billing.invoices.memo").change;
        assert_eq!(
            c,
            Change::DropColumn {
                table: s("billing.invoices"),
                column: s("memo")
            }
        );
        let c = ok("SET DEFAULT OF users.status TO 'New Customer'").change;
        assert_eq!(
            c,
            Change::SetDefault {
                table: s("users"),
                column: s("status"),
                default: Some(s("'New Customer'"))
            }
        );
    }

    #[test]
    fn mode_words_politeness_and_punctuation_are_dropped() {
        let want = ok("rename users.username to handle").change;
        for text in [
            "/migrate plan rename users.username to handle",
            "plan rename users.username to handle.",
            "plan: rename users.username to handle",
            "please rename users.username to handle!",
            "  could you   rename users.username to handle, thanks ",
            "\u{201c}rename\u{201d} users.username to handle;",
        ] {
            let text = text.replace(['\u{201c}', '\u{201d}'], "");
            assert_eq!(ok(&text).change, want, "{text}");
        }
        let c = ok("set default of users.title to \u{2018}Dr.  Who\u{2019}").change;
        assert_eq!(
            c,
            Change::SetDefault {
                table: s("users"),
                column: s("title"),
                default: Some(s("'Dr.  Who'"))
            }
        );
    }

    #[test]
    fn nonsense_and_ambiguity_fail_with_a_reason() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("hello", "unknown verb `hello`"),
            ("frobnicate users.email", "unknown verb `frobnicate`"),
            ("rename users to accounts", "could be a table or a column"),
            ("rename username to handle", "could be a table or a column"),
            ("drop audit_log", "could be a table or a column"),
            (
                "drop column legacy_flag",
                "no table given for column `legacy_flag`",
            ),
            ("make email required", "no table given for column `email`"),
            (
                "change amount from integer to bigint",
                "no table given for column `amount`",
            ),
            (
                "change users.username to handle",
                "rename users.username to handle",
            ),
            (
                "make users.email lowercase",
                "`lowercase` is not a built-in type",
            ),
            (
                "add refunded to order_status",
                "could be a column or an enum value",
            ),
            ("add more memory to the server", "not a built-in type"),
            (
                "set users.active to true",
                "could mean its default or its value",
            ),
            (
                "merge user_profiles into users",
                "name the columns of user_profiles",
            ),
            (
                "merge first_name, last_name into full_name",
                "no table given",
            ),
            (
                "split customers.address into street",
                "at least two new columns",
            ),
            ("backfill users.email_lower", "say what to fill"),
            ("create table audit_log", "no columns given"),
            (
                "create table audit_log (id bigint references users)",
                "foreign key is a separate change",
            ),
            (
                "add users.email text unique",
                "unique column is a separate change",
            ),
            (
                "add column users.bio text nullable filled with 'x'",
                "two changes",
            ),
            ("drop index on users.email", "name the index"),
            (
                "drop constraint users_email_key",
                "not a change schemashift plans",
            ),
            (
                "orders.amount must be nice",
                "did not understand the condition `nice`",
            ),
            (
                "orders.customer_id references customers on delete explode",
                "not an action",
            ),
            (
                "add foreign key from orders(a, b) to customers",
                "multi-column foreign key",
            ),
            (
                "move card_last4, card_brand from users to user_billing",
                "one move per column",
            ),
            (
                "add index on orders.customer_id using bitmap",
                "not an index method",
            ),
            (
                "merge users.first_name and accounts.last_name into full_name",
                "different tables",
            ),
            ("alter table users add column x int", "reads as SQL"),
            ("create user bob", "out of scope"),
            ("users.email", "no verb found"),
            ("drop", "no table.column found"),
            ("rename users.username", "`rename` was recognised"),
            ("drop users.email, users.phone", "one request per column"),
            ("users.email: make it required", "no verb found"),
        ];
        for (text, want) in cases {
            let r = reason(text);
            assert!(
                r.contains(want),
                "`{text}`: reason `{r}` does not contain `{want}`"
            );
        }
    }

    #[test]
    fn one_column_split_needs_a_new_table_said() {
        let r = reason("split customers.address into street");
        assert!(
            r.contains("at least two new columns") && r.contains("into a new table street"),
            "{r}"
        );
        let c = ok("split customers.address out into a new table street").change;
        assert_eq!(c.change_type(), ChangeType::SplitTable);
    }

    #[test]
    fn out_of_scope_requests_say_so() {
        for text in [
            "design a schema for a blog",
            "why is my query slow",
            "tune autovacuum",
            "how do I rename a column",
            "explain analyze select * from users",
            "optimize the orders table",
            "what indexes should I add",
        ] {
            let r = reason(text);
            assert!(
                r.contains("out of scope") && r.contains("rename users.username to handle"),
                "`{text}`: {r}"
            );
        }
    }

    #[test]
    fn error_display_lists_the_accepted_forms() {
        let e = parse("hello").unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.starts_with("could not understand the request `hello`: unknown verb"),
            "{shown}"
        );
        for form in ACCEPTED_FORMS {
            assert!(shown.contains(form), "missing {form}");
        }
    }

    #[test]
    fn long_input_is_refused_quickly() {
        let text = format!(
            "add column users.x text default '{}'",
            "a".repeat(MAX_REQUEST_BYTES)
        );
        assert!(reason(&text).contains("one sentence"));
    }

    #[test]
    fn slot_helpers() {
        assert_eq!(
            column_ref("email on billing.users"),
            Ok((s("billing.users"), s("email")))
        );
        assert_eq!(column_ref("users(email)"), Ok((s("users"), s("email"))));
        assert!(column_ref("default on users").is_err());
        assert_eq!(split_items("a, b, and c"), vec![s("a"), s("b"), s("c")]);
        assert_eq!(
            split_items("numeric(12, 2), 'x, y' and z"),
            vec![s("numeric(12, 2)"), s("'x, y'"), s("z")]
        );
        assert_eq!(
            words("a 'b c' f(x, y) d"),
            vec!["a", "'b c'", "f(x, y)", "d"]
        );
        assert_eq!(tidy("  /migrate plan   drop  users.x . "), "drop users.x");
        assert_eq!(collapse_spaces("a  'b   c'   d"), "a 'b   c' d");
    }
}
