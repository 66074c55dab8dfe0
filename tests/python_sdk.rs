//! The official Python MCP SDK lists and calls the tools and reads every
//! reference, with nothing special done for it.

use std::process::Command;

#[test]
fn python_mcp_sdk_talks_to_the_server() {
    let python = std::env::var("SCHEMASHIFT_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python).args(["-c", "import mcp"]).output();
    match probe {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "this test needs the Python MCP SDK: run `python3 -m venv .venv && .venv/bin/pip install mcp` and set SCHEMASHIFT_PYTHON=.venv/bin/python (.ci/run does this)"
        ),
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/mcp_client.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_schemashift"))
        .output()
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "Python client failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("classify_change: rename_column"),
        "{stdout}"
    );
    assert!(stdout.contains("bad request: is_error"), "{stdout}");
}
