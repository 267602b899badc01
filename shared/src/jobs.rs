//! Background work that runs as its own function: on a schedule on AWS, by
//! `make expire-trials` (or any Lambda invoke) locally.

use std::future::Future;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

use crate::app::App;
use crate::auth::{Actor, ActorKind};
use crate::domain::client::Status;
use crate::domain::now;
use crate::error::ApiError;
use crate::events::{Event, EventType, previous};
pub use crate::webhooks::retry_webhooks;

/// Runs a job as a Lambda function: builds [`App`] once, then runs `job` on each
/// invocation (whatever its payload) and answers with its report.
///
/// # Errors
/// When the configuration is invalid or the runtime fails.
pub async fn run<F, Fut>(job: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(&'static App) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, ApiError>> + Send,
{
    crate::http::init_tracing();
    let app: &'static App = Box::leak(Box::new(App::from_env().await?));
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let report = job(app).await;
        match &report {
            Ok(r) => tracing::info!(report = %r, "job done"),
            Err(e) => tracing::error!(error = %e, "job failed"),
        }
        report.map_err(|e| lambda_runtime::Error::from(e.to_string()))
    }))
    .await
}

/// Writes `demo` over every trial that has ended, each with its
/// `client.trial_expired` event. Reads already show such a trial as demo; this
/// makes lists filtered by status, and webhook receivers, agree.
///
/// # Errors
/// When the store fails.
pub async fn expire_trials(app: &'static App) -> Result<Value, ApiError> {
    let actor = Actor { kind: ActorKind::System, id: "expire-trials".into() };
    let request_id = uuid::Uuid::now_v7().to_string();
    let mut expired = 0;
    let mut skipped = 0;
    loop {
        let ids = app.store.ended_trials(&now(), 100).await?;
        let batch = ids.len();
        let mut progressed = false;
        for id in ids {
            let Some(current) = app.store.client(&id).await? else { continue };
            if current.status != Status::Trial || current.effective_status(&now()) != Status::Demo {
                continue;
            }
            let mut next = current.clone();
            next.status = Status::Demo;
            next.trial_ends_at = None;
            next.version += 1;
            next.modified = now();
            let (before, after) = (current.view(), next.view());
            let mut previous = previous(&before, &after).unwrap_or_else(|| json!({}));
            previous["status"] = json!("trial");
            previous["trialEndsAt"] = json!(current.trial_ends_at);
            let event = Event::new(EventType::ClientTrialExpired, &next.ancestors, &actor, &request_id, after, Some(previous));
            match app.store.update_client(&current, &next, &event).await {
                Ok(()) => {
                    expired += 1;
                    progressed = true;
                }
                // Changed meanwhile (say, made live): the next run looks again.
                Err(ApiError::VersionMismatch { .. }) => skipped += 1,
                Err(e) => return Err(e),
            }
        }
        if batch < 100 || !progressed {
            return Ok(json!({ "expired": expired, "skipped": skipped }));
        }
    }
}
