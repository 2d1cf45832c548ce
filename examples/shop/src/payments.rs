//! The shop's payment provider, a second service on its own port: a payment is created
//! `pending` and is `captured` a while later, as `GET /payments/{id}` shows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

/// How the payment provider behaves.
#[derive(Clone, Debug)]
pub struct PaymentsConfig {
    /// How long after its creation a payment is captured. (Default: 300 ms.)
    pub capture_after: Duration,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        PaymentsConfig {
            capture_after: Duration::from_millis(300),
        }
    }
}

struct Payments {
    config: PaymentsConfig,
    /// Every payment's order and when it was created, by id.
    payments: Mutex<HashMap<u64, (u64, tokio::time::Instant)>>,
    next: AtomicU64,
}

#[derive(Deserialize)]
struct NewPayment {
    order_id: u64,
    amount_cents: u64,
}

/// The payment provider's routes: `POST /payments` (`{"order_id", "amount_cents"}`) and
/// `GET /payments/{id}`.
pub fn payments_router(config: PaymentsConfig) -> Router {
    let state = Arc::new(Payments {
        config,
        payments: Mutex::new(HashMap::new()),
        next: AtomicU64::new(1),
    });
    Router::new()
        .route("/payments", post(create))
        .route("/payments/{id}", get(payment))
        .with_state(state)
}

async fn create(
    State(p): State<Arc<Payments>>,
    body: Result<Json<NewPayment>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(new)) = body else {
        return crate::error(
            StatusCode::BAD_REQUEST,
            "expected {\"order_id\": .., \"amount_cents\": ..}",
        );
    };
    if new.amount_cents == 0 {
        return crate::error(StatusCode::UNPROCESSABLE_ENTITY, "nothing to pay");
    }
    let id = p.next.fetch_add(1, Ordering::Relaxed);
    p.payments
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, (new.order_id, tokio::time::Instant::now()));
    (
        StatusCode::CREATED,
        Json(
            serde_json::json!({ "payment_id": id, "order_id": new.order_id, "status": "pending" }),
        ),
    )
        .into_response()
}

async fn payment(State(p): State<Arc<Payments>>, Path(id): Path<u64>) -> Response {
    let found = p
        .payments
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .copied();
    match found {
        Some((order, created)) => {
            let status = if created.elapsed() >= p.config.capture_after {
                "captured"
            } else {
                "pending"
            };
            Json(serde_json::json!({ "payment_id": id, "order_id": order, "status": status }))
                .into_response()
        }
        None => crate::error(StatusCode::NOT_FOUND, "no such payment"),
    }
}
