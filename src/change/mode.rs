//! A mode word at the head of a request: `/migrate cutover <change>`,
//! `backfill <change>`. The word says which slice of the plan is wanted; the
//! change follows it. "backfill" is also a verb ("backfill orders.total_cents
//! from total"), so a request whose first word is a mode word is read whole
//! first (then the word is the change's verb, and no mode) and then without
//! the word.
//!
//! Also here: the one cutover phrasing that names no change but implies one,
//! "switch reads from accounts.name to accounts.display_name" (the cutover
//! of a rename).

use super::{Change, Parsed};
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// The modes of `/migrate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModeWord {
    Plan,
    Review,
    Backfill,
    Cutover,
    Deprecate,
    Rehearse,
}

impl ModeWord {
    pub const ALL: [ModeWord; 6] = [
        ModeWord::Plan,
        ModeWord::Review,
        ModeWord::Backfill,
        ModeWord::Cutover,
        ModeWord::Deprecate,
        ModeWord::Rehearse,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ModeWord::Plan => "plan",
            ModeWord::Review => "review",
            ModeWord::Backfill => "backfill",
            ModeWord::Cutover => "cutover",
            ModeWord::Deprecate => "deprecate",
            ModeWord::Rehearse => "rehearse",
        }
    }

    /// Whether the word also starts a change ("backfill users.x with ...").
    pub fn is_verb(self) -> bool {
        self == ModeWord::Backfill
    }
}

fn compile(p: &str) -> Regex {
    RegexBuilder::new(p)
        .case_insensitive(true)
        .build()
        .unwrap_or_else(|e| panic!("pattern `{p}` does not compile: {e}"))
}

/// `[/migrate|/schemashift:migrate] <mode>[:] <rest>`.
static MODE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"^\s*(?:/?(?:schemashift:)?migrate\s+)?(?P<mode>plan|review|backfill|cut-?over|deprecate|rehearse)\s*(?::\s*|\s+)(?P<rest>\S.*)$",
    )
});

/// The mode word at the head of `text` and the request after it, if any.
pub fn split(text: &str) -> Option<(ModeWord, &str)> {
    let caps = MODE.captures(text)?;
    let word = caps["mode"].to_ascii_lowercase().replace('-', "");
    let mode = ModeWord::ALL.into_iter().find(|m| m.as_str() == word)?;
    let rest = caps.name("rest")?.as_str().trim();
    Some((mode, rest))
}

/// A dotted name: `col`, `table.col` or `schema.table.col`.
const NAME: &str = r"[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*){0,2}";

static READS: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r"^(?:switch|move|flip|point|cut ?over)(?: the| all)? reads(?: and writes)?(?: over)?(?: from (?P<from>{NAME}))? (?:to|onto) (?:the new |new )?(?P<to>{NAME})(?: column)?$"
    ))
});

/// "switch reads from accounts.name to accounts.display_name": the cutover
/// of renaming `name` to `display_name`. `None` when the words are not about
/// switching reads; an error when they are but do not say from which column.
pub fn reads_switch(text: &str) -> Option<Result<Parsed, String>> {
    let caps = READS.captures(text.trim().trim_end_matches(['.', '!']))?;
    let to = &caps["to"];
    let Some(from) = caps.name("from").map(|m| m.as_str()) else {
        return Some(Err(format!(
            "switching reads to `{to}` needs the column they switch from: say `switch reads from <table>.<old column> to {to}` (the cutover of renaming the old column), or give the structured change, e.g. {{\"change_type\": \"rename_column\", \"table\": \"<table>\", \"column\": \"<old column>\", \"new_name\": \"<new column>\"}} with mode cutover"
        )));
    };
    let (from_table, from_col) = split_column(from);
    let (to_table, to_col) = split_column(to);
    let table = match (from_table, to_table) {
        (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b) => {
            return Some(Err(format!(
                "reads switch between columns of one table; `{from}` and `{to}` are in different tables (moving a column to another table is `move <column> from <table> into <other table>`)"
            )))
        }
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) => {
            return Some(Err(format!(
                "say which table `{from_col}` and `{to_col}` are in: `switch reads from <table>.{from_col} to {to_col}`"
            )))
        }
    };
    Some(Ok(Parsed {
        change: Change::RenameColumn {
            table: table.to_string(),
            column: from_col.to_string(),
            new_name: to_col.to_string(),
        },
        notes: vec![format!(
            "switching reads from {from_col} to {to_col} is read as the cutover of renaming {table}.{from_col} to {to_col}"
        )],
    }))
}

/// `a.b.c` -> (Some("a.b"), "c"); `c` -> (None, "c").
fn split_column(name: &str) -> (Option<&str>, &str) {
    match name.rsplit_once('.') {
        Some((t, c)) => (Some(t), c),
        None => (None, name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_mode_word_is_split_off() {
        for (text, mode, rest) in [
            (
                "cutover switch reads to accounts.display_name",
                ModeWord::Cutover,
                "switch reads to accounts.display_name",
            ),
            (
                "/migrate backfill orders.total_cents from total",
                ModeWord::Backfill,
                "orders.total_cents from total",
            ),
            (
                "deprecate: drop users.legacy_token",
                ModeWord::Deprecate,
                "drop users.legacy_token",
            ),
            (
                "/schemashift:migrate Cut-over rename a.b to c",
                ModeWord::Cutover,
                "rename a.b to c",
            ),
            ("plan  rename a.b to c", ModeWord::Plan, "rename a.b to c"),
            (
                "rehearse rename users.email to email_address",
                ModeWord::Rehearse,
                "rename users.email to email_address",
            ),
        ] {
            assert_eq!(split(text), Some((mode, rest)), "{text}");
        }
        for text in [
            "rename users.plan to tier",
            "planned rename",
            "backfill",
            "cutover ",
        ] {
            assert_eq!(split(text), None, "{text}");
        }
    }

    #[test]
    fn switching_reads_is_the_cutover_of_a_rename() {
        let p = reads_switch("switch reads from accounts.name to accounts.display_name")
            .unwrap()
            .unwrap();
        assert_eq!(
            p.change,
            Change::RenameColumn {
                table: "accounts".into(),
                column: "name".into(),
                new_name: "display_name".into()
            }
        );
        let p = reads_switch("flip reads from billing.accounts.name to display_name")
            .unwrap()
            .unwrap();
        assert!(
            matches!(p.change, Change::RenameColumn { ref table, .. } if table == "billing.accounts")
        );
        let e = reads_switch("switch reads to accounts.display_name")
            .unwrap()
            .unwrap_err();
        assert!(
            e.contains("switch reads from <table>.<old column> to accounts.display_name")
                && e.contains("\"change_type\": \"rename_column\""),
            "{e}"
        );
        let e = reads_switch("switch reads from a.x to b.y")
            .unwrap()
            .unwrap_err();
        assert!(e.contains("different tables"), "{e}");
        assert!(reads_switch("rename users.username to handle").is_none());
    }
}
