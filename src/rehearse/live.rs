//! What running rehearsals must undo, so that an interrupted process still
//! leaves nothing behind: every throwaway cluster and scratch database is
//! registered while it exists, and [`install_signal_cleanup`] (SIGINT,
//! SIGTERM, SIGHUP) and [`stop_all`] (e.g. when the MCP client closes stdin)
//! drain the registry. A process killed outright (SIGKILL, abort) cannot;
//! the next rehearsal removes those leftovers (see `cluster::reap_stale_dirs`
//! and `scratch::reap`).

use super::scratch::Scratch;
use crate::cluster::Teardown;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Something a rehearsal made that must not outlive it.
pub enum Leftover {
    Cluster(Teardown),
    Scratch(Box<Scratch>),
}

static LIVE: Mutex<Vec<(u64, Leftover)>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(1);

/// Set when a signal handler has begun undoing everything; it ends the
/// process when done.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// A rehearsal whose database vanished under it because of a signal waits
/// here for the handler to exit the process with the signal's status,
/// instead of reporting the error that vanishing caused.
pub async fn park_if_interrupted() {
    if INTERRUPTED.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
}

fn live() -> std::sync::MutexGuard<'static, Vec<(u64, Leftover)>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers a leftover; the id takes it back.
pub fn register(l: Leftover) -> u64 {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    live().push((id, l));
    id
}

/// Takes a leftover back to undo it; `None` when a signal handler already
/// took it.
pub fn take(id: u64) -> Option<Leftover> {
    let mut l = live();
    let i = l.iter().position(|(i, _)| *i == id)?;
    Some(l.remove(i).1)
}

/// Undoes one leftover, reporting failures as warnings.
pub async fn undo(l: Leftover) {
    match l {
        Leftover::Cluster(t) => match tokio::task::spawn_blocking(move || t.run()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("could not remove the throwaway cluster: {e}"),
            Err(e) => tracing::warn!("could not remove the throwaway cluster: {e}"),
        },
        Leftover::Scratch(s) => {
            if let Err(e) = s.drop_all().await {
                tracing::warn!("{e}");
                eprintln!("schemashift: {e}");
            }
        }
    }
}

/// Undoes every registered leftover now (clusters are stopped, scratch
/// databases and roles dropped); rehearsals still running then fail.
/// Blocking; callable from anywhere but inside an async task.
pub fn stop_all() {
    let all: Vec<Leftover> = live().drain(..).map(|(_, l)| l).collect();
    if all.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async {
        for l in all {
            undo(l).await;
        }
    });
}

/// Makes SIGINT, SIGTERM and SIGHUP undo every running rehearsal's cluster
/// and scratch database, then exit (status 128 + the signal's number), on a
/// thread of its own. Call once, early, in a process that rehearses.
pub fn install_signal_cleanup() {
    #[cfg(unix)]
    {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("schemashift-signals".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    let _ = ready_tx.send(());
                    return;
                };
                runtime.block_on(async move {
                    use tokio::signal::unix::{signal, SignalKind};
                    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
                        signal(SignalKind::interrupt()),
                        signal(SignalKind::terminate()),
                        signal(SignalKind::hangup()),
                    ) else {
                        let _ = ready_tx.send(());
                        return;
                    };
                    let _ = ready_tx.send(());
                    let code = tokio::select! {
                        _ = int.recv() => 130,
                        _ = term.recv() => 143,
                        _ = hup.recv() => 129,
                    };
                    INTERRUPTED.store(true, Ordering::SeqCst);
                    let all: Vec<Leftover> = live().drain(..).map(|(_, l)| l).collect();
                    if !all.is_empty() {
                        eprintln!("schemashift: interrupted; removing the rehearsal's database");
                    }
                    for l in all {
                        undo(l).await;
                    }
                    // A cluster still starting is not registered yet, and
                    // the thread starting it may still be writing its logs
                    // there: try until nothing of ours is left.
                    let _ = tokio::task::spawn_blocking(|| {
                        for _ in 0..20 {
                            crate::cluster::remove_own_dirs();
                            if !crate::cluster::own_dirs_exist() {
                                break;
                            }
                            std::thread::sleep(std::time::Duration::from_millis(100));
                        }
                    })
                    .await;
                    std::process::exit(code);
                });
            });
        // Wait until the handlers are in place, so a signal right after this
        // returns is not lost to the default action.
        if spawned.is_ok() {
            let _ = ready_rx.recv();
        }
    }
    #[cfg(not(unix))]
    {
        std::thread::spawn(|| {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if tokio::signal::ctrl_c().await.is_ok() {
                    INTERRUPTED.store(true, Ordering::SeqCst);
                    let all: Vec<Leftover> = live().drain(..).map(|(_, l)| l).collect();
                    for l in all {
                        undo(l).await;
                    }
                    std::process::exit(130);
                }
            });
        });
    }
}
