//! Running a batch of attempts against a target: bounded concurrency, a
//! request-rate limit, retries with backoff, the cache and the attempt log.
//!
//! Everything runs on one current-thread tokio runtime owned by the call:
//! the work is waiting on sockets, so one thread drives `concurrency`
//! in-flight requests and the caller stays synchronous (gates are sync).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::log::{AttemptLog, AttemptRecord};
use super::{ChatError, ChatRequest, ChatTarget};

/// One request to make, with the caller's id for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// A stable id (probe id and variant), logged with the reply.
    pub id: String,
    /// The request.
    pub request: ChatRequest,
}

/// How a batch runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Retries after the first try, for retryable errors only.
    pub max_retries: u32,
    /// The first backoff; doubled per retry.
    pub backoff: Duration,
    /// The longest single wait, including a server's `Retry-After`.
    pub max_backoff: Duration,
    /// A cap on requests started per second.
    pub requests_per_second: Option<f64>,
    /// After this many attempts fail in a row the run stops: the endpoint
    /// is down or overloaded and waiting longer only delays the verdict.
    pub max_consecutive_failures: usize,
    /// No attempt starts after this instant.
    pub deadline: Option<Instant>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            concurrency: 8,
            max_retries: 4,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            requests_per_second: None,
            max_consecutive_failures: 16,
            deadline: None,
        }
    }
}

/// What a batch produced.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// One entry per attempt, in the order given; `None` when the attempt
    /// never ran because the run stopped.
    pub records: Vec<Option<AttemptRecord>>,
    /// HTTP requests actually sent (retries included).
    pub sent: u64,
    /// Attempts answered from the cache or an earlier run's log.
    pub reused: usize,
    /// Attempts that failed after every retry.
    pub failed: usize,
    /// Why the run stopped early, if it did.
    pub aborted: Option<String>,
}

impl RunSummary {
    /// The first error any attempt ended with.
    pub fn first_error(&self) -> Option<&str> {
        self.records.iter().flatten().find_map(|r| r.error.as_deref())
    }
}

/// The cache key of `request` at `target_id`: hex SHA-256 over both.
pub fn request_key(target_id: &str, request: &ChatRequest) -> String {
    let mut h = Sha256::new();
    h.update(target_id.as_bytes());
    h.update(b"\n");
    h.update(serde_json::to_vec(request).unwrap_or_default());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

struct Shared<'a> {
    target: &'a dyn ChatTarget,
    target_id: String,
    attempts: &'a [Attempt],
    opts: &'a RunOptions,
    next: AtomicUsize,
    sent: AtomicU64,
    consecutive_failures: AtomicUsize,
    abort: AtomicBool,
    abort_reason: Mutex<Option<String>>,
    next_slot: Mutex<Instant>,
    log: Mutex<Option<&'a mut AttemptLog>>,
    memory: Mutex<std::collections::HashMap<String, String>>,
    records: Mutex<Vec<Option<AttemptRecord>>>,
    on_done: &'a (dyn Fn(&AttemptRecord) + Sync),
}

impl Shared<'_> {
    fn stop(&self, reason: String) {
        if let Ok(mut r) = self.abort_reason.lock() {
            r.get_or_insert(reason);
        }
        self.abort.store(true, Ordering::SeqCst);
    }

    fn stopped(&self) -> bool {
        self.abort.load(Ordering::SeqCst)
    }

    fn cached(&self, key: &str) -> Option<String> {
        if let Some(r) = self.log.lock().ok()?.as_ref().and_then(|l| l.cached(key)) {
            return Some(r.to_string());
        }
        self.memory.lock().ok()?.get(key).cloned()
    }

    async fn pace(&self) {
        let Some(rps) = self.opts.requests_per_second.filter(|r| *r > 0.0) else {
            return;
        };
        let interval = Duration::from_secs_f64(1.0 / rps);
        let wait = match self.next_slot.lock() {
            Ok(mut slot) => {
                let now = Instant::now();
                let start = (*slot).max(now);
                *slot = start + interval;
                start - now
            }
            Err(_) => Duration::ZERO,
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    async fn ask(&self, key: &str, request: &ChatRequest) -> (Result<super::ChatReply, ChatError>, u32) {
        let mut tries = 0u32;
        loop {
            self.pace().await;
            tries += 1;
            self.sent.fetch_add(1, Ordering::Relaxed);
            let err = match self.target.send(request).await {
                Ok(r) => return (Ok(r), tries),
                Err(e) => e,
            };
            if err.fatal() {
                self.stop(format!(
                    "{err} (stopping: later requests would fail the same way)"
                ));
                return (Err(err), tries);
            }
            if !err.retryable() || tries > self.opts.max_retries || self.stopped() {
                return (Err(err), tries);
            }
            let exp = self.opts.backoff.saturating_mul(1u32 << (tries - 1).min(16));
            // Spread retries by a jitter fixed per request, so runs repeat.
            let jitter = u32::from(key.as_bytes().first().copied().unwrap_or(0) % 64);
            let mut wait = err
                .retry_after()
                .unwrap_or_else(|| exp + exp * jitter / 128)
                .min(self.opts.max_backoff);
            if let Some(d) = self.opts.deadline {
                let left = d.saturating_duration_since(Instant::now());
                if wait >= left {
                    return (Err(err), tries);
                }
                wait = wait.min(left);
            }
            tokio::time::sleep(wait).await;
        }
    }

    async fn worker(&self) {
        loop {
            if self.stopped() {
                return;
            }
            if self.opts.deadline.is_some_and(|d| Instant::now() >= d) {
                self.stop("the deadline passed before every attempt ran".into());
                return;
            }
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(attempt) = self.attempts.get(index) else {
                return;
            };
            let key = request_key(&self.target_id, &attempt.request);
            let started = Instant::now();
            let mut record = AttemptRecord {
                id: attempt.id.clone(),
                key: key.clone(),
                target: self.target_id.clone(),
                request: attempt.request.clone(),
                reply: None,
                error: None,
                status: None,
                tries: 0,
                elapsed_ms: 0,
                reused: false,
            };
            if let Some(reply) = self.cached(&key) {
                record.reply = Some(reply);
                record.reused = true;
            } else {
                let (result, tries) = self.ask(&key, &attempt.request).await;
                record.tries = tries;
                record.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                match result {
                    Ok(reply) => {
                        record.status = Some(reply.status);
                        if let Ok(mut m) = self.memory.lock() {
                            m.insert(key.clone(), reply.text.clone());
                        }
                        record.reply = Some(reply.text);
                        self.consecutive_failures.store(0, Ordering::Relaxed);
                    }
                    Err(e) => {
                        record.status = e.status();
                        record.error = Some(e.to_string());
                        let n = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
                        if n >= self.opts.max_consecutive_failures.max(1) {
                            self.stop(format!("{n} attempts in a row failed; the last: {e}"));
                        }
                    }
                }
                let logged = match self.log.lock() {
                    Ok(mut log) => log.as_mut().map_or(Ok(()), |l| l.append(&record)),
                    Err(_) => Ok(()),
                };
                if let Err(e) = logged {
                    self.stop(format!("cannot write the attempt log: {e}"));
                }
            }
            (self.on_done)(&record);
            if let Ok(mut records) = self.records.lock() {
                if let Some(slot) = records.get_mut(index) {
                    *slot = Some(record);
                }
            }
        }
    }
}

/// Runs `attempts` against `target` and returns every record.
///
/// Replies already in `log` (from an interrupted earlier run) or earlier in
/// this run are reused without a request. Every new attempt, failed or not,
/// is appended to `log`. `on_done` is called once per finished attempt (for
/// progress bars). A fatal error (401, 403, 404, bad configuration), a run of
/// [`RunOptions::max_consecutive_failures`] failures or the deadline stops
/// the run: [`RunSummary::aborted`] says why, and the log keeps everything
/// finished so far for the next run to resume from.
///
/// # Errors
/// [`ChatError::Config`] when the async runtime cannot start.
pub fn run_attempts(
    target: &dyn ChatTarget,
    attempts: &[Attempt],
    opts: &RunOptions,
    log: Option<&mut AttemptLog>,
    on_done: &(dyn Fn(&AttemptRecord) + Sync),
) -> Result<RunSummary, ChatError> {
    // Called from inside an async runtime (a server handling a request),
    // a nested block_on would panic: run on a scoped thread instead.
    if tokio::runtime::Handle::try_current().is_ok() {
        return std::thread::scope(|scope| {
            scope
                .spawn(|| run_on_own_runtime(target, attempts, opts, log, on_done))
                .join()
                .unwrap_or_else(|_| Err(ChatError::Config("the attempt runner thread panicked".into())))
        });
    }
    run_on_own_runtime(target, attempts, opts, log, on_done)
}

fn run_on_own_runtime(
    target: &dyn ChatTarget,
    attempts: &[Attempt],
    opts: &RunOptions,
    log: Option<&mut AttemptLog>,
    on_done: &(dyn Fn(&AttemptRecord) + Sync),
) -> Result<RunSummary, ChatError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ChatError::Config(format!("cannot start the async runtime: {e}")))?;
    let shared = Shared {
        target,
        target_id: target.id(),
        attempts,
        opts,
        next: AtomicUsize::new(0),
        sent: AtomicU64::new(0),
        consecutive_failures: AtomicUsize::new(0),
        abort: AtomicBool::new(false),
        abort_reason: Mutex::new(None),
        next_slot: Mutex::new(Instant::now()),
        log: Mutex::new(log),
        memory: Mutex::new(std::collections::HashMap::new()),
        records: Mutex::new(vec![None; attempts.len()]),
        on_done,
    };
    let workers = opts.concurrency.clamp(1, 1024).min(attempts.len().max(1));
    rt.block_on(async {
        let futures: Vec<_> = (0..workers).map(|_| shared.worker()).collect();
        join_all(futures).await;
    });
    if let Ok(mut log) = shared.log.lock() {
        if let Some(l) = log.as_mut() {
            if let Err(e) = l.flush() {
                shared.stop(format!("cannot write the attempt log: {e}"));
            }
        }
    }
    let records = shared.records.into_inner().unwrap_or_default();
    let reused = records.iter().flatten().filter(|r| r.reused).count();
    let failed = records.iter().flatten().filter(|r| r.error.is_some()).count();
    Ok(RunSummary {
        records,
        sent: shared.sent.load(Ordering::Relaxed),
        reused,
        failed,
        aborted: shared.abort_reason.into_inner().ok().flatten(),
    })
}

/// Polls every future to completion on the current task (no spawning, so
/// the futures may borrow the caller's data).
async fn join_all<F: std::future::Future<Output = ()>>(futures: Vec<F>) {
    let mut futures: Vec<Option<std::pin::Pin<Box<F>>>> =
        futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    std::future::poll_fn(move |cx| {
        let mut pending = false;
        for slot in futures.iter_mut() {
            if let Some(f) = slot {
                if f.as_mut().poll(cx).is_ready() {
                    *slot = None;
                } else {
                    pending = true;
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{BoxFuture, ChatMessage, ChatReply};

    struct Echo;

    impl ChatTarget for Echo {
        fn id(&self) -> String {
            "echo".into()
        }
        fn url(&self) -> &str {
            "mem:echo"
        }
        fn model(&self) -> Option<&str> {
            None
        }
        fn send<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatReply, ChatError>> {
            Box::pin(async move {
                Ok(ChatReply {
                    text: request.last_user().to_string(),
                    status: 200,
                })
            })
        }
    }

    fn attempts(n: usize) -> Vec<Attempt> {
        (0..n)
            .map(|i| Attempt {
                id: i.to_string(),
                request: ChatRequest::new(vec![ChatMessage::user(format!("q{}", i % 3))]),
            })
            .collect()
    }

    #[test]
    fn replies_come_back_in_attempt_order_and_duplicates_are_asked_once() {
        let a = attempts(9);
        let s = run_attempts(&Echo, &a, &RunOptions::default(), None, &|_| {}).unwrap();
        let replies: Vec<_> = s
            .records
            .iter()
            .map(|r| r.as_ref().unwrap().reply.clone().unwrap())
            .collect();
        assert_eq!(replies[4], "q1");
        assert!(s.sent <= 9 && s.sent >= 3, "{}", s.sent);
    }

    #[test]
    fn calling_from_inside_an_async_runtime_does_not_panic() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let s =
            rt.block_on(async { run_attempts(&Echo, &attempts(4), &RunOptions::default(), None, &|_| {}) });
        assert_eq!(s.unwrap().records.len(), 4);
    }
}
