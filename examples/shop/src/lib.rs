//! A small shop to point windtunnel at: a catalog, a cart kept per session cookie, a checkout
//! that is slower and fails now and then, like a real one, and orders that move on to shipped;
//! and its payment provider, a second service ([`spawn_payments`]). They are the systems under
//! test of the demo scenarios and of windtunnel's own tests; they bind loopback only.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! let shop = demo_shop::spawn(demo_shop::ShopConfig::default()).await?;
//! println!("shop at {}", shop.url());
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

mod payments;
pub use payments::{PaymentsConfig, payments_router};

/// How the shop behaves.
#[derive(Clone, Debug)]
pub struct ShopConfig {
    /// Extra latency of catalog requests, drawn uniformly. (Default: 1–5 ms.)
    pub catalog_latency: Range<Duration>,
    /// Extra latency of checkouts, drawn uniformly. (Default: 10–40 ms.)
    pub checkout_latency: Range<Duration>,
    /// Share of checkouts that fail with 503 and `Retry-After`. (Default: 0.02.)
    pub checkout_error_rate: f64,
    /// Seed of the shop's own randomness. (Default: 1.)
    pub seed: u64,
    /// Stop-the-world pauses, as a garbage collector makes. (Default: none.)
    pub pauses: Option<Pauses>,
    /// How long `/serial` holds the shop's one connection to its (imaginary) database, so
    /// that `/serial` serves at most one request at a time. (Default: 5 ms.)
    pub serial_latency: Duration,
    /// How an order moves on after its checkout: `pending`, then `paid` after the first
    /// duration, then `shipped` after the second (both from the checkout), as
    /// `GET /orders/{id}` shows in its `status`. (Default: 300 ms and 1.5 s.)
    pub order_states: (Duration, Duration),
}

/// Stop-the-world pauses: from `every` after the start on, once per `every`, the shop answers
/// nothing for `length`; responses ready during a pause wait for its end.
#[derive(Clone, Copy, Debug)]
pub struct Pauses {
    /// How often.
    pub every: Duration,
    /// How long.
    pub length: Duration,
}

impl Pauses {
    /// If `t` (since the start) is inside a pause, when that pause ends.
    fn end_of_pause(&self, t: Duration) -> Option<Duration> {
        if t < self.every || self.every.is_zero() {
            return None;
        }
        let k = t.as_nanos() / self.every.as_nanos();
        let start = self.every * u32::try_from(k).unwrap_or(u32::MAX);
        (t < start + self.length).then_some(start + self.length)
    }
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            catalog_latency: Duration::from_millis(1)..Duration::from_millis(5),
            checkout_latency: Duration::from_millis(10)..Duration::from_millis(40),
            checkout_error_rate: 0.02,
            seed: 1,
            pauses: None,
            serial_latency: Duration::from_millis(5),
            order_states: (Duration::from_millis(300), Duration::from_millis(1500)),
        }
    }
}

impl ShopConfig {
    /// No added latency and no injected errors: the shop as fast as it goes.
    pub fn instant() -> Self {
        ShopConfig {
            catalog_latency: Duration::ZERO..Duration::ZERO,
            checkout_latency: Duration::ZERO..Duration::ZERO,
            checkout_error_rate: 0.0,
            seed: 1,
            pauses: None,
            serial_latency: Duration::from_millis(5),
            order_states: (Duration::from_millis(300), Duration::from_millis(1500)),
        }
    }
}

/// A product of the catalog.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Product {
    /// Its id.
    pub id: u32,
    /// Its name.
    pub name: String,
    /// Price in cents.
    pub price_cents: u64,
}

/// A line of a cart.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CartItem {
    /// The product.
    pub product_id: u32,
    /// How many.
    pub quantity: u32,
}

struct Shop {
    config: ShopConfig,
    products: Vec<Product>,
    carts: Mutex<HashMap<String, Vec<CartItem>>>,
    /// Every order's total and when it was placed, by id.
    orders: Mutex<HashMap<u64, (u64, tokio::time::Instant)>>,
    next_session: AtomicU64,
    next_order: AtomicU64,
    rng: Mutex<ChaCha8Rng>,
    started: tokio::time::Instant,
    /// The one database connection `/serial` needs.
    serial: tokio::sync::Mutex<()>,
}

impl Shop {
    fn draw(&self, range: &Range<Duration>) -> Duration {
        if range.end <= range.start {
            return range.start;
        }
        let span = (range.end - range.start).as_micros() as u64;
        let r = self
            .rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_u64()
            % span;
        range.start + Duration::from_micros(r)
    }

    fn chance(&self, p: f64) -> bool {
        let r = self
            .rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_u64();
        ((r >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

async fn pause(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

const SESSION_COOKIE: &str = "shop_session";

fn session_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_owned())
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn health() -> &'static str {
    "ok"
}

async fn products(State(shop): State<Arc<Shop>>) -> Json<Vec<Product>> {
    pause(shop.draw(&shop.config.catalog_latency)).await;
    Json(shop.products.clone())
}

async fn product(State(shop): State<Arc<Shop>>, Path(id): Path<u32>) -> Response {
    pause(shop.draw(&shop.config.catalog_latency)).await;
    match shop.products.iter().find(|p| p.id == id) {
        Some(p) => Json(p.clone()).into_response(),
        None => error(StatusCode::NOT_FOUND, "no such product"),
    }
}

async fn add_to_cart(
    State(shop): State<Arc<Shop>>,
    headers: HeaderMap,
    body: Result<Json<CartItem>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(item)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected {\"product_id\": n, \"quantity\": n}",
        );
    };
    if item.quantity == 0 || !shop.products.iter().any(|p| p.id == item.product_id) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown product or zero quantity",
        );
    }
    let (session, new) = match session_of(&headers) {
        Some(s) => (s, false),
        None => (
            format!("s{}", shop.next_session.fetch_add(1, Ordering::Relaxed)),
            true,
        ),
    };
    let cart = {
        let mut carts = shop.carts.lock().unwrap_or_else(|e| e.into_inner());
        let cart = carts.entry(session.clone()).or_default();
        cart.push(item);
        cart.clone()
    };
    let mut response = (StatusCode::CREATED, Json(cart)).into_response();
    if new {
        let cookie = format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly");
        if let Ok(v) = cookie.parse() {
            response.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    response
}

async fn cart(State(shop): State<Arc<Shop>>, headers: HeaderMap) -> Json<Vec<CartItem>> {
    let carts = shop.carts.lock().unwrap_or_else(|e| e.into_inner());
    Json(
        session_of(&headers)
            .and_then(|s| carts.get(&s).cloned())
            .unwrap_or_default(),
    )
}

async fn checkout(State(shop): State<Arc<Shop>>, headers: HeaderMap) -> Response {
    pause(shop.draw(&shop.config.checkout_latency)).await;
    let Some(session) = session_of(&headers) else {
        return error(StatusCode::CONFLICT, "no cart: add something first");
    };
    if shop.chance(shop.config.checkout_error_rate) {
        let mut r = error(StatusCode::SERVICE_UNAVAILABLE, "payment provider busy");
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return r;
    }
    let items = shop
        .carts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&session);
    let Some(items) = items.filter(|i| !i.is_empty()) else {
        return error(StatusCode::CONFLICT, "the cart is empty");
    };
    let total: u64 = items
        .iter()
        .filter_map(|i| {
            shop.products
                .iter()
                .find(|p| p.id == i.product_id)
                .map(|p| p.price_cents * u64::from(i.quantity))
        })
        .sum();
    let order = shop.next_order.fetch_add(1, Ordering::Relaxed);
    shop.orders
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(order, (total, tokio::time::Instant::now()));
    (
        StatusCode::CREATED,
        Json(serde_json::json!({ "order_id": order, "total_cents": total })),
    )
        .into_response()
}

#[derive(Deserialize)]
struct Login {
    user: String,
    password: String,
}

/// Logs in: any user with a non-empty password gets a bearer token for `/account`.
async fn login(body: Result<Json<Login>, axum::extract::rejection::JsonRejection>) -> Response {
    let Ok(Json(login)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected {\"user\": \"...\", \"password\": \"...\"}",
        );
    };
    if login.user.is_empty() || login.password.is_empty() {
        return error(StatusCode::UNAUTHORIZED, "wrong user or password");
    }
    Json(serde_json::json!({ "token": format!("t.{}", login.user), "user": login.user }))
        .into_response()
}

/// The account of the bearer token's user.
async fn account(headers: HeaderMap) -> Response {
    let user = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer t."))
        .filter(|u| !u.is_empty());
    match user {
        Some(u) => Json(serde_json::json!({ "user": u })).into_response(),
        None => error(StatusCode::UNAUTHORIZED, "log in first: POST /login"),
    }
}

/// One order, by the id checkout returned, with its `status`: `pending`, `paid`, `shipped`.
async fn order(State(shop): State<Arc<Shop>>, Path(id): Path<u64>) -> Response {
    let total = shop
        .orders
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .copied();
    match total {
        Some((total, placed)) => {
            let age = placed.elapsed();
            let (paid, shipped) = shop.config.order_states;
            let status = if age >= shipped {
                "shipped"
            } else if age >= paid {
                "paid"
            } else {
                "pending"
            };
            Json(serde_json::json!({ "order_id": id, "total_cents": total, "status": status }))
                .into_response()
        }
        None => error(StatusCode::NOT_FOUND, "no such order"),
    }
}

#[derive(Deserialize)]
struct SlowQuery {
    ms: u64,
}

/// Answers after `ms` milliseconds (at most 10 s).
async fn slow(Query(q): Query<SlowQuery>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(q.ms.min(10_000))).await;
    "slow"
}

/// A report that needs the shop's one database connection: requests queue for it, so latency
/// climbs steeply once they come faster than one per `serial_latency`.
async fn serial(State(shop): State<Arc<Shop>>) -> &'static str {
    let _connection = shop.serial.lock().await;
    tokio::time::sleep(shop.config.serial_latency).await;
    "report"
}

/// Holds responses that are ready during a stop-the-world pause until the pause ends.
async fn hold_during_pauses(
    State(shop): State<Arc<Shop>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    if let Some(p) = shop.config.pauses
        && let Some(end) = p.end_of_pause(shop.started.elapsed())
    {
        tokio::time::sleep_until(shop.started + end).await;
    }
    response
}

/// The old address of the catalog: a permanent redirect to `/products`.
async fn old_catalog() -> Response {
    (
        StatusCode::MOVED_PERMANENTLY,
        [(header::LOCATION, "/products")],
    )
        .into_response()
}

/// Never answers within any sane timeout: a hung dependency.
async fn hang() -> &'static str {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    "finally"
}

/// The shop's routes.
pub fn router(config: ShopConfig) -> Router {
    let catalog = (1..=20)
        .map(|id| Product {
            id,
            name: format!("Product {id}"),
            price_cents: u64::from(id) * 250,
        })
        .collect();
    let shop = Arc::new(Shop {
        rng: Mutex::new(ChaCha8Rng::seed_from_u64(config.seed)),
        config,
        products: catalog,
        carts: Mutex::new(HashMap::new()),
        orders: Mutex::new(HashMap::new()),
        next_session: AtomicU64::new(1),
        next_order: AtomicU64::new(1),
        started: tokio::time::Instant::now(),
        serial: tokio::sync::Mutex::new(()),
    });
    Router::new()
        .route("/health", get(health))
        .route("/products", get(products))
        .route("/products/{id}", get(product))
        .route("/cart", post(add_to_cart).get(cart))
        .route("/checkout", post(checkout))
        .route("/login", post(login))
        .route("/account", get(account))
        .route("/orders/{id}", get(order))
        .route("/catalog", get(old_catalog))
        .route("/slow", get(slow))
        .route("/hang", get(hang))
        .route("/serial", get(serial))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shop),
            hold_during_pauses,
        ))
        .with_state(shop)
}

/// A running shop; it stops when dropped.
#[derive(Debug)]
pub struct ShopHandle {
    addr: SocketAddr,
    _shutdown: oneshot::Sender<()>,
}

impl ShopHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, like `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Starts the shop on `127.0.0.1` on a free port, on the current tokio runtime.
///
/// # Errors
///
/// If the port cannot be bound.
pub async fn spawn(config: ShopConfig) -> std::io::Result<ShopHandle> {
    spawn_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
}

/// Starts the shop on `addr`.
///
/// # Errors
///
/// If `addr` cannot be bound.
pub async fn spawn_on(addr: SocketAddr, config: ShopConfig) -> std::io::Result<ShopHandle> {
    serve(addr, router(config), "demo shop").await
}

/// Starts the payment provider on `127.0.0.1` on a free port; it stops when the handle is
/// dropped.
///
/// # Errors
///
/// If the port cannot be bound.
pub async fn spawn_payments(config: PaymentsConfig) -> std::io::Result<ShopHandle> {
    spawn_payments_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
}

/// Starts the payment provider on `addr`.
///
/// # Errors
///
/// If `addr` cannot be bound.
pub async fn spawn_payments_on(
    addr: SocketAddr,
    config: PaymentsConfig,
) -> std::io::Result<ShopHandle> {
    serve(addr, payments_router(config), "demo payments").await
}

async fn serve(addr: SocketAddr, app: Router, what: &'static str) -> std::io::Result<ShopHandle> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = rx.await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            eprintln!("{what}: {e}");
        }
    });
    Ok(ShopHandle {
        addr,
        _shutdown: tx,
    })
}
