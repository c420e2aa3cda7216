//! A hook for where a run's messages go instead of straight to the relay (for example a
//! durable outbox): the runner builds and validates each message as usual, then hands it
//! over.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use smtpcm_engine::mime::PreparedMessage;

use crate::connection_manager::SmtpConnectionManager;

/// Takes a prepared message for later delivery through `connection`.
pub trait Deliver: Send + Sync {
    /// Hand `message` over. `Ok` carries one line saying what was done (e.g. `queued 7
    /// <id@host>`), shown as the message's reply; `Err` a one-line reason, which fails
    /// the task.
    fn deliver<'a>(
        &'a self,
        connection: &'a SmtpConnectionManager,
        message: &'a PreparedMessage,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;
}

/// A shared [`Deliver`] for [`RunOptions::deliver`](super::RunOptions::deliver).
#[derive(Clone)]
pub struct Deliverer(pub Arc<dyn Deliver>);

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deliverer")
    }
}
