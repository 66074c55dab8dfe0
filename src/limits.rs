//! How much schemashift reads of each input, and reading with that bound.
//!
//! Every file and stream is read through [`read_bounded`]: at most one byte
//! past its limit is ever read, so `/dev/zero`, an endless pipe or a huge
//! file fails fast with a message naming the limit, instead of filling
//! memory first and checking afterwards. The README lists these limits.

use std::io::Read;
use std::path::Path;

const MIB: usize = 1 << 20;

/// A change in words or SQL (`classify`, `plan`, `rehearse`, and the MCP
/// `request` and `sql` fields).
pub const CHANGE_BYTES: usize = crate::change::MAX_INPUT_BYTES;
/// A schema (`--schema`, MCP `schema`): CREATE TABLE DDL or a schema dump.
pub const SCHEMA_BYTES: usize = 32 * MIB;
/// A plan or result as JSON (`rehearse PLAN.json`, `render --data`).
pub const JSON_BYTES: usize = 64 * MIB;
/// A migration rehearsed as written (`rehearse --as-is`, MCP `as_is`).
pub const AS_IS_BYTES: usize = 8 * MIB;
/// A review configuration file (`schemashift.toml`, `--config`).
pub const CONFIG_BYTES: usize = MIB;
/// All the SQL one `schemashift review` reads, files and stdin together.
pub const REVIEW_BYTES: usize = 64 * MIB;

/// The limit in words: `1 MiB`, `64 MiB`.
pub fn describe(limit: usize) -> String {
    if limit >= MIB && limit.is_multiple_of(MIB) {
        format!("{} MiB", limit / MIB)
    } else {
        format!("{limit} bytes")
    }
}

/// Reads at most `limit` bytes of `from`, failing when there is more.
/// `what` names the input in the message ("the schema file db/schema.sql"),
/// `hint` says what to do instead.
pub fn read_bounded(
    from: impl Read,
    limit: usize,
    what: &str,
    hint: &str,
) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    from.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {what}: {e}"))?;
    if bytes.len() > limit {
        return Err(format!(
            "{what} is larger than {}, the most schemashift reads there; {hint}",
            describe(limit)
        ));
    }
    Ok(bytes)
}

/// A file's bytes, read with a bound. Directories are refused by name;
/// FIFOs and devices are read like files, with the same bound.
pub fn read_file(path: &Path, limit: usize, what: &str, hint: &str) -> Result<Vec<u8>, String> {
    let named = format!("{what} {}", path.display());
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {named}: {e}"))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(format!(
            "cannot read {named}: it is a directory; give a file"
        ));
    }
    read_bounded(file, limit, &named, hint)
}

/// A file's text, read with a bound; it must be UTF-8.
pub fn read_file_text(path: &Path, limit: usize, what: &str, hint: &str) -> Result<String, String> {
    let bytes = read_file(path, limit, what, hint)?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "cannot read {what} {}: it is not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// Standard input's text, read with a bound; it must be UTF-8.
pub fn read_stdin_text(limit: usize, what: &str, hint: &str) -> Result<String, String> {
    let bytes = read_bounded(std::io::stdin().lock(), limit, what, hint)?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "cannot read {what}: it is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// A string field of an MCP call over its limit: the message, or `None`.
pub fn check_field(field: &str, text: &str, limit: usize) -> Result<(), String> {
    if text.len() > limit {
        return Err(format!(
            "`{field}` is {} bytes, over the {} limit of one call",
            text.len(),
            describe(limit)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_limit_and_no_further() {
        assert_eq!(read_bounded(&b"abc"[..], 3, "x", "h").unwrap(), b"abc");
        let err = read_bounded(&b"abcd"[..], 3, "the thing", "give less").unwrap_err();
        assert_eq!(
            err,
            "the thing is larger than 3 bytes, the most schemashift reads there; give less"
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_device_fails_fast() {
        let started = std::time::Instant::now();
        let err = read_file(
            Path::new("/dev/zero"),
            MIB,
            "the schema file",
            "give a file",
        )
        .unwrap_err();
        assert!(err.contains("/dev/zero is larger than 1 MiB"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let err = read_file(Path::new("/"), MIB, "the schema file", "h").unwrap_err();
        assert!(err.contains("is a directory"), "{err}");
    }

    #[test]
    fn limits_are_described_in_mebibytes() {
        assert_eq!(describe(CHANGE_BYTES), "1 MiB");
        assert_eq!(describe(REVIEW_BYTES), "64 MiB");
        assert_eq!(describe(1000), "1000 bytes");
    }
}
