//! The MCP server's stdio framing: every line a client sends is checked
//! before rmcp reads it, so that every message gets an answer.
//!
//! rmcp drops lines it cannot parse (invalid JSON or UTF-8, two messages on
//! one line, an id of `1e400`, a line over 16 MiB) without a reply, and a
//! client then waits forever for that id. Here each line is read with a
//! bound, checked, and either handed to rmcp through a pipe or answered with
//! the JSON-RPC error it deserves. rmcp writes into a second pipe; one task
//! alone writes whole lines from both to stdout, so replies never interleave.

use serde_json::{json, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// The largest message (one line) the server reads.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// Buffer of each pipe between the framing and rmcp.
const PIPE_BYTES: usize = 256 << 10;

/// JSON-RPC error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const INVALID_PARAMS: i64 = -32602;

/// Serves `server` over `input` and `output` (stdin and stdout) until the
/// client closes `input`.
pub async fn serve<S, R, W>(server: S, input: R, output: W) -> anyhow::Result<()>
where
    S: rmcp::ServerHandler,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    use rmcp::transport::async_rw::AsyncRwTransport;
    use rmcp::ServiceExt;
    let (to_rmcp, rmcp_in) = tokio::io::duplex(PIPE_BYTES);
    let (rmcp_out, from_rmcp) = tokio::io::duplex(PIPE_BYTES);
    let (lines, rx) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(write_lines(rx, output));
    let replies = tokio::spawn(forward_lines(from_rmcp, lines.clone()));
    let reader = tokio::spawn(read_messages(input, to_rmcp, lines));
    // Lines reach rmcp already bounded; its own bound would only drop them.
    let transport = AsyncRwTransport::<rmcp::RoleServer, _, _>::new(rmcp_in, rmcp_out)
        .with_max_line_length(usize::MAX);
    let served = match server.serve(transport).await {
        Ok(service) => service
            .waiting()
            .await
            .map(|_| ())
            .map_err(anyhow::Error::from),
        Err(e) => Err(anyhow::Error::from(e)),
    };
    // rmcp has stopped (the client closed stdin, or initialization failed):
    // stop reading, then let every reply already made reach stdout.
    reader.abort();
    let _ = reader.await;
    let _ = replies.await;
    let _ = writer.await;
    served
}

/// Reads lines from the client; hands the well-formed ones to rmcp and
/// answers the others on `replies`.
async fn read_messages<R: AsyncRead + Unpin>(
    input: R,
    mut to_rmcp: tokio::io::DuplexStream,
    replies: mpsc::Sender<Vec<u8>>,
) {
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        let outcome = match read_line(&mut input, &mut line, MAX_MESSAGE_BYTES).await {
            Ok(Line::Eof) => return,
            Ok(Line::TooLong) => Err(error(
                Value::Null,
                INVALID_REQUEST,
                format!(
                    "Invalid Request: the message is larger than {} MiB, the most the server reads; send less data in one call",
                    MAX_MESSAGE_BYTES >> 20
                ),
            )),
            Ok(Line::Complete) => check(&line),
            Err(e) => {
                tracing::error!("cannot read stdin: {e}");
                return;
            }
        };
        match outcome {
            Ok(Forward::Yes) => {
                let sent = async {
                    to_rmcp.write_all(&line).await?;
                    to_rmcp.write_all(b"\n").await?;
                    to_rmcp.flush().await
                };
                if sent.await.is_err() {
                    return;
                }
            }
            Ok(Forward::Blank) => {}
            Err(reply) => {
                tracing::warn!(
                    "answered a malformed message: {}",
                    reply["error"]["message"]
                );
                let mut bytes = reply.to_string().into_bytes();
                bytes.push(b'\n');
                if replies.send(bytes).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Copies rmcp's output to `lines`, a whole line at a time.
async fn forward_lines(from_rmcp: tokio::io::DuplexStream, lines: mpsc::Sender<Vec<u8>>) {
    let mut from_rmcp = BufReader::new(from_rmcp);
    loop {
        let mut line = Vec::new();
        match from_rmcp.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if lines.send(line).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The one writer of stdout.
async fn write_lines<W: AsyncWrite + Unpin>(mut rx: mpsc::Receiver<Vec<u8>>, mut out: W) {
    while let Some(line) = rx.recv().await {
        if out.write_all(&line).await.is_err() || out.flush().await.is_err() {
            return;
        }
    }
}

#[derive(Debug, PartialEq)]
enum Line {
    /// A whole line is in the buffer (without its `\n`).
    Complete,
    /// The line was longer than the bound; it was read and thrown away.
    TooLong,
    /// The client closed the stream (a last line without `\n` is dropped, as
    /// rmcp drops it).
    Eof,
}

/// Reads one line into `buf`, holding at most `max` bytes of it.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(if too_long { Line::TooLong } else { Line::Eof });
        }
        let newline = chunk.iter().position(|&b| b == b'\n');
        let take = newline.map_or(chunk.len(), |i| i + 1);
        if !too_long {
            let content = &chunk[..newline.unwrap_or(chunk.len())];
            if buf.len() + content.len() > max {
                too_long = true;
                buf.clear();
                buf.shrink_to(64 << 10);
            } else {
                buf.extend_from_slice(content);
            }
        }
        r.consume(take);
        if newline.is_some() {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}

#[derive(Debug, PartialEq)]
enum Forward {
    Yes,
    /// An empty line: nothing to answer.
    Blank,
}

/// Whether rmcp gets the line, or the error reply it gets instead.
fn check(line: &[u8]) -> Result<Forward, Value> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(Forward::Blank);
    }
    if let Err(e) = std::str::from_utf8(line) {
        return Err(error(
            Value::Null,
            PARSE_ERROR,
            format!(
                "Parse error: the message is not valid UTF-8 (at byte {})",
                e.valid_up_to()
            ),
        ));
    }
    let message: Value = serde_json::from_slice(line).map_err(|e| {
        error(
            Value::Null,
            PARSE_ERROR,
            format!("Parse error: the message is not one JSON value: {e}"),
        )
    })?;
    let Value::Object(m) = &message else {
        return Err(error(
            Value::Null,
            INVALID_REQUEST,
            "Invalid Request: a message is one JSON object (batches are not supported)".into(),
        ));
    };
    let id = match m.get("id") {
        None => None,
        Some(id @ Value::String(_)) => Some(id.clone()),
        Some(id @ Value::Number(n)) if n.is_i64() || n.is_u64() => Some(id.clone()),
        Some(_) => {
            return Err(error(
                Value::Null,
                INVALID_REQUEST,
                "Invalid Request: `id` must be a string or an integer".into(),
            ))
        }
    };
    if let (Some(id), Some(Value::String(method))) = (id, m.get("method")) {
        if let Some(problem) = params_problem(method, m.get("params")) {
            return Err(error(
                id,
                INVALID_PARAMS,
                format!("Invalid params: {problem}"),
            ));
        }
    }
    Ok(Forward::Yes)
}

/// What is wrong with the params of a request rmcp would otherwise answer
/// "method not found" (its reply when params do not fit the method).
fn params_problem(method: &str, params: Option<&Value>) -> Option<String> {
    let need = |fields: &str| Some(format!("{method} needs `params` with {fields}"));
    let object_or_absent = |v: Option<&Value>| v.is_none_or(Value::is_object);
    match method {
        "tools/call" => match params {
            Some(Value::Object(p))
                if p.get("name").is_some_and(Value::is_string)
                    && object_or_absent(p.get("arguments")) =>
            {
                None
            }
            _ => need("`name` (a string) and `arguments` (an object)"),
        },
        "prompts/get" => match params {
            Some(Value::Object(p))
                if p.get("name").is_some_and(Value::is_string)
                    && object_or_absent(p.get("arguments")) =>
            {
                None
            }
            _ => need("`name` (a string) and `arguments` (an object)"),
        },
        "resources/read" => match params {
            Some(Value::Object(p)) if p.get("uri").is_some_and(Value::is_string) => None,
            _ => need("`uri` (a string)"),
        },
        _ => None,
    }
}

fn error(id: Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<Forward, Value>) -> (i64, Value) {
        let e = r.expect_err("an error reply");
        (e["error"]["code"].as_i64().unwrap(), e["id"].clone())
    }

    #[test]
    fn well_formed_messages_go_to_rmcp() {
        for ok in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"x","arguments":{}}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            "\u{feff}{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\r",
        ] {
            assert_eq!(check(ok.as_bytes()), Ok(Forward::Yes), "{ok}");
        }
        assert_eq!(check(b"  \r"), Ok(Forward::Blank));
    }

    #[test]
    fn unparsable_lines_are_parse_errors_with_a_null_id() {
        let deep = "[".repeat(100_000);
        for bad in [
            &b"this is not json"[..],
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} {\"id\":2}",
            b"{\"jsonrpc\":\"2.0\",\"id\":1e400,\"method\":\"ping\"}",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"x\":\"\\ud800\"}",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\0ing\"}",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}",
            deep.as_bytes(),
        ] {
            assert_eq!(
                code(check(bad)),
                (PARSE_ERROR, Value::Null),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn json_that_is_no_message_is_an_invalid_request() {
        for bad in [
            "[1,2]",
            "42",
            "null",
            r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
        ] {
            assert_eq!(
                code(check(bad.as_bytes())),
                (INVALID_REQUEST, Value::Null),
                "{bad}"
            );
        }
    }

    #[test]
    fn params_that_do_not_fit_the_method_are_invalid_params_with_the_id() {
        for bad in [
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call"}"#,
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":"a"}}"#,
            r#"{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":5}}"#,
            r#"{"jsonrpc":"2.0","id":7,"method":"prompts/get","params":{}}"#,
        ] {
            assert_eq!(
                code(check(bad.as_bytes())),
                (INVALID_PARAMS, json!(7)),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn lines_are_read_with_a_bound_and_the_next_line_still_read() {
        let input = format!("{}\nshort\nlast-without-newline", "x".repeat(100));
        let mut r = BufReader::with_capacity(16, input.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut r, &mut buf, 50).await.unwrap(),
            Line::TooLong
        );
        assert!(buf.is_empty());
        assert_eq!(
            read_line(&mut r, &mut buf, 50).await.unwrap(),
            Line::Complete
        );
        assert_eq!(buf, b"short");
        assert_eq!(read_line(&mut r, &mut buf, 50).await.unwrap(), Line::Eof);
    }
}
