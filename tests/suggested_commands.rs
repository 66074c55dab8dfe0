//! Every command schemashift suggests exists, with the flags it names: the
//! "next:" line of a receipt, a review fix's `schemashift plan "..."`, an
//! error's example, the examples in `--help`, and every `schemashift <command>`
//! written in the sources, templates, skill and documents. Each is parsed by
//! the real command line (`schemashift <args> --help`: clap rejects an
//! unknown command, flag or value before it prints the help).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const EXE: &str = env!("CARGO_BIN_EXE_schemashift");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Words that follow "schemashift " in prose, not as a command.
const PROSE: &[&str] = &[
    "plans",
    "runs",
    "writes",
    "reads",
    "rehearsal",
    "uses",
    "tool",
    "reference",
    "recognises",
    "produces",
    "never",
    "from",
    "for",
    "draws",
    "schemashift",
];

fn run(args: &[String]) -> std::process::Output {
    Command::new(EXE)
        .args(args)
        .output()
        .expect("run schemashift")
}

/// The subcommands, from `schemashift --help`.
fn subcommands() -> BTreeSet<String> {
    let out = run(&["--help".into()]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Shell words of a command line, quotes removed.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                started = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if started || !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// The schemashift commands of a shell line (`a | b && c > file`), each
/// without the program name.
fn commands_of(line: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<String>> = None;
    let mut skip_next = false;
    for w in shell_words(line) {
        if skip_next {
            skip_next = false;
            continue;
        }
        match w.as_str() {
            "|" | "&&" | ";" => out.extend(cur.take()),
            ">" | ">>" | "<" => skip_next = true,
            "schemashift" if cur.is_none() => cur = Some(Vec::new()),
            _ => {
                if let Some(c) = cur.as_mut() {
                    c.push(w);
                }
            }
        }
    }
    out.extend(cur);
    out
}

/// Marks a command line cut at a template expression: only its command
/// word is checked here.
const JINJA_CUT: &str = " <template>";

/// Checks a command with the real parser; the error if it does not parse.
fn check(args: &[String]) -> Result<(), String> {
    let args: Vec<String> = if args.iter().any(|a| a == JINJA_CUT.trim()) {
        args[..1].to_vec()
    } else {
        // A synopsis: `[--rows N] [--format text|json]`: optional parts
        // given, a placeholder as a number (which any value type takes), an
        // alternative as its first.
        args.iter()
            .map(|a| {
                let a = a.trim_start_matches('[').trim_end_matches(']');
                let a = a.split('|').next().unwrap_or(a);
                if !a.is_empty() && a.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                    "1".to_string()
                } else {
                    a.to_string()
                }
            })
            .collect()
    };
    let mut with_help = args.to_vec();
    with_help.push("--help".into());
    let out = run(&with_help);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The command line that starts at `text` (just after "schemashift "), as
/// written in a source file: up to the end of the string literal or code
/// span, a line end, or a sentence's punctuation outside quotes. In Rust
/// sources `\"` is a quote inside the literal and `"` ends it; format
/// arguments (`{name}`) stand for one word.
fn command_line(text: &str, rust: bool) -> String {
    let mut out = String::from("schemashift ");
    let mut chars = text.chars().peekable();
    let mut in_quote = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if rust => match chars.next() {
                Some('"') => {
                    in_quote = !in_quote;
                    out.push('"');
                }
                Some('n') | None => break,
                Some(other) => out.push(other),
            },
            '"' if rust => break,
            '"' => {
                in_quote = !in_quote;
                out.push('"');
            }
            '`' | '\n' => break,
            // A shell comment.
            '#' if !in_quote && out.ends_with(' ') => break,
            // A template expression: what follows is checked rendered.
            '{' if !rust && matches!(chars.peek(), Some('{' | '%')) => {
                out.push_str(JINJA_CUT);
                break;
            }
            ',' | ';' | ')' | '.' | ':' if !in_quote => {
                // Punctuation ends the command unless it is part of a word
                // (a file name, `.` for this folder, `-`).
                let ends_word = out.ends_with(|p: char| !p.is_whitespace());
                match chars.peek() {
                    Some(n) if !n.is_whitespace() && c == '.' => out.push(c),
                    _ if c == '.' && !ends_word => out.push(c),
                    _ => break,
                }
            }
            '{' if rust => {
                // A format argument: one word.
                for n in chars.by_ref() {
                    if n == '}' {
                        break;
                    }
                }
                out.push('X');
            }
            c => out.push(c),
        }
    }
    out
}

fn files_under(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, found);
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("rs" | "md" | "txt")
        ) {
            found.push(p);
        }
    }
}

#[test]
fn every_command_written_in_the_project_exists() {
    let subcommands = subcommands();
    assert!(subcommands.contains("plan"), "{subcommands:?}");
    let root = Path::new(ROOT);
    let mut files = Vec::new();
    for dir in ["src", "templates", "skill", "references", "docs"] {
        files_under(&root.join(dir), &mut files);
    }
    files.push(root.join("README.md"));
    let mut checked = 0;
    let mut wrong = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let rust = file.extension().is_some_and(|x| x == "rs");
        for (at, _) in text.match_indices("schemashift ") {
            let after = &text[at + "schemashift ".len()..];
            let word: String = after
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                .collect();
            let line_no = text[..at].lines().count();
            let place = format!("{}:{line_no}", file.strip_prefix(root).unwrap().display());
            if after.starts_with("{{") {
                wrong.push(format!("{place}: a command word from a template expression cannot be checked: write each command literally"));
                continue;
            }
            if word.is_empty() || PROSE.contains(&word.as_str()) {
                continue;
            }
            if !subcommands.contains(&word) {
                wrong.push(format!("{place}: `schemashift {word}` is no command (if it is prose, add `{word}` to PROSE)"));
                continue;
            }
            for cmd in commands_of(&command_line(after, rust)) {
                checked += 1;
                if let Err(e) = check(&cmd) {
                    wrong.push(format!("{place}: `schemashift {}`: {e}", cmd.join(" ")));
                }
            }
        }
    }
    assert!(checked > 30, "only {checked} commands found");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_examples_in_help_exist() {
    let mut checked = 0;
    for sub in subcommands() {
        let out = run(&[sub.clone(), "--help".into()]);
        let help = String::from_utf8_lossy(&out.stdout).into_owned();
        for line in help
            .lines()
            .filter(|l| l.trim_start().starts_with("schemashift "))
        {
            for cmd in commands_of(line) {
                checked += 1;
                check(&cmd).unwrap_or_else(|e| panic!("`{line}` in {sub} --help: {e}"));
            }
        }
    }
    assert!(checked > 10, "only {checked} examples found");
}

/// The "Next:" line of the classification receipt, for every mode a
/// classification may suggest.
#[test]
fn the_classification_receipt_points_at_commands_that_exist() {
    let out = run(&[
        "classify".into(),
        "--json".into(),
        "rename users.username to handle".into(),
    ]);
    assert!(out.status.success());
    let mut c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for mode in ["plan", "review", "backfill", "cutover", "deprecate"] {
        c["mode"] = serde_json::json!(mode);
        let receipt = schemashift::render::render_json(
            "classification-summary",
            &c,
            Some(schemashift::render::Format::Summary),
        )
        .unwrap();
        let next = receipt
            .lines()
            .find_map(|l| {
                let at = l.to_ascii_lowercase().find("next: ")?;
                Some(l[at + "next: ".len()..].trim_end_matches('.'))
            })
            .unwrap_or_else(|| panic!("no next: line for mode {mode}:\n{receipt}"));
        let cmds = commands_of(next);
        assert_eq!(cmds.len(), 1, "{next}");
        check(&cmds[0]).unwrap_or_else(|e| panic!("mode {mode}: `{next}`: {e}"));
        if mode != "plan" && mode != "review" {
            assert!(next.contains(&format!("--mode {mode}")), "{next}");
        }
    }
}

/// Every string in a JSON value.
fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// A review's fixes point at `schemashift plan "<change>"`: the command
/// exists, and the change in it is one the planner reads.
#[test]
fn review_fixes_point_at_plans_that_can_be_made() {
    let sql = "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);\n\
               ALTER TABLE orders ADD CONSTRAINT orders_amount_check CHECK (amount >= 0);\n\
               ALTER TABLE orders ALTER COLUMN note TYPE varchar(20);\n\
               ALTER TABLE events ADD PRIMARY KEY (id);\n\
               ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);\n\
               ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n\
               ALTER TABLE users RENAME COLUMN username TO handle;\n";
    let dir = std::env::temp_dir().join(format!("suggested-commands-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("001_changes.sql");
    std::fs::write(&file, sql).unwrap();
    let out = run(&[
        "review".into(),
        "--format".into(),
        "json".into(),
        file.display().to_string(),
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
    let review: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let mut texts = Vec::new();
    strings(&review, &mut texts);
    let mut suggested = Vec::new();
    for text in &texts {
        for (at, _) in text.match_indices("schemashift plan ") {
            let line = command_line(&text[at + "schemashift ".len()..], false);
            suggested.extend(commands_of(&line));
        }
    }
    assert!(suggested.len() >= 3, "few plan suggestions: {suggested:?}");
    for cmd in &suggested {
        check(cmd).unwrap_or_else(|e| panic!("`schemashift {}`: {e}", cmd.join(" ")));
        let change = cmd.last().unwrap();
        let out = run(&["classify".into(), change.clone()]);
        assert!(
            out.status.success(),
            "the fix suggests `schemashift plan \"{change}\"`, which the planner does not read: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
