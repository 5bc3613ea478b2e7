//! The request id of the request being served, carried in a task-local so errors can cite it.

use std::future::Future;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `fut` with `id` as the current request id.
pub async fn scope<F: Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// The current request id, if the caller runs inside [`scope`].
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn visible_inside_scope_only() {
        assert_eq!(current(), None);
        let seen = scope("req_1".into(), async { current() }).await;
        assert_eq!(seen.as_deref(), Some("req_1"));
    }
}
