//! The limit on concurrent Flight SQL queries: a semaphore whose permit a
//! query holds from planning until its result stream ends or is dropped.
//! A query that finds no free slot waits up to the queue timeout, then
//! fails with `ResourceExhausted`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

/// Slots for running queries.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    slots: Arc<Semaphore>,
    max: usize,
    wait: Duration,
}

impl Admission {
    /// `max` queries at once (at least 1); others wait up to `wait`.
    pub(crate) fn new(max: usize, wait: Duration) -> Self {
        let max = max.max(1);
        Admission {
            slots: Arc::new(Semaphore::new(max)),
            max,
            wait,
        }
    }

    /// A slot, held until the permit is dropped.
    pub(crate) async fn admit(&self) -> Result<OwnedSemaphorePermit, Status> {
        let slot = Arc::clone(&self.slots).acquire_owned();
        match tokio::time::timeout(self.wait, slot).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(Status::unavailable("the server is shutting down")),
            Err(_) => Err(Status::resource_exhausted(format!(
                "too many concurrent queries: {} are running and this one waited {:?} for a slot; \
                 retry later, or raise the server's concurrent query limit",
                self.max, self.wait
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_then_refuses_and_frees_on_drop() {
        let admission = Admission::new(1, Duration::from_millis(50));
        let first = admission.admit().await.unwrap();
        let refused = admission.admit().await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(
            refused
                .message()
                .starts_with("too many concurrent queries: 1 are running"),
            "{}",
            refused.message()
        );
        drop(first);
        assert!(admission.admit().await.is_ok());
    }
}
