//! Tenant output as a stream of lines, and the buffer the process runtime keeps it in.

use futures_util::stream::{self, BoxStream, StreamExt};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Lines of a tenant's Node-RED output (stdout and stderr interleaved as they came).
pub type LogStream = BoxStream<'static, String>;

/// Lines kept per tenant for `logs --tail`; Node-RED's start-up is ~20 lines.
const KEEP: usize = 2000;
/// A follower that falls this far behind loses lines rather than slowing the tenant down.
const FOLLOW_BUFFER: usize = 1024;

/// The recent output of one tenant, shared by its output readers and any number of followers.
#[derive(Clone)]
pub struct LogBuffer {
    inner: Arc<Mutex<VecDeque<String>>>,
    live: broadcast::Sender<String>,
}

impl Default for LogBuffer {
    fn default() -> Self {
        LogBuffer {
            inner: Arc::default(),
            live: broadcast::channel(FOLLOW_BUFFER).0,
        }
    }
}

impl LogBuffer {
    pub fn push(&self, line: String) {
        let mut lines = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == KEEP {
            lines.pop_front();
        }
        lines.push_back(line.clone());
        // Taken under the lock so a new follower sees each line exactly once.
        let _ = self.live.send(line);
    }

    pub fn stream(&self, tail: usize, follow: bool) -> LogStream {
        let lines = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let recent: Vec<String> = lines
            .iter()
            .skip(lines.len().saturating_sub(tail))
            .cloned()
            .collect();
        let live = follow.then(|| self.live.subscribe());
        drop(lines);
        let recent = stream::iter(recent);
        match live {
            None => recent.boxed(),
            Some(receiver) => recent
                .chain(stream::unfold(receiver, |mut receiver| async move {
                    let line = match receiver.recv().await {
                        Ok(line) => line,
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            format!("[redhive: {n} lines skipped]")
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    };
                    Some((line, receiver))
                }))
                .boxed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tail_then_follow() {
        let logs = LogBuffer::default();
        for i in 0..5 {
            logs.push(format!("line {i}"));
        }
        let tail: Vec<String> = logs.stream(2, false).collect().await;
        assert_eq!(tail, ["line 3", "line 4"]);
        let mut follow = logs.stream(1, true);
        logs.push("line 5".into());
        assert_eq!(follow.next().await.unwrap(), "line 4");
        assert_eq!(follow.next().await.unwrap(), "line 5");
    }

    #[test]
    fn keeps_only_the_recent_lines() {
        let logs = LogBuffer::default();
        for i in 0..KEEP + 10 {
            logs.push(i.to_string());
        }
        let lines = logs.inner.lock().unwrap();
        assert_eq!(lines.len(), KEEP);
        assert_eq!(lines.front().unwrap(), "10");
    }
}
