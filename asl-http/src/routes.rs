//! The routes, the middleware (metrics, panic containment, timeout) and the router.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use asl_core::decode::DecodeConfig;
use asl_core::infer::{Classifier, ModelCard};
use asl_core::word::{PhotoBatch, WordError};
use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use tokio::sync::OwnedSemaphorePermit;
use tower_http::catch_panic::CatchPanicLayer;

use crate::api::{Health, LetterResponse, PredictResponse, Ready, Reloaded, WordResponse};
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::logging::{self, RequestContext};
use crate::state::AppState;
use crate::upload::{self, Upload};
use crate::{openapi, page};

/// The server's router with its middleware.
pub fn router(state: AppState) -> Router {
    app(state, Router::new())
}

/// [`router`] plus `extra` routes, which get the same middleware (tests add a few).
pub fn app(state: AppState, extra: Router<AppState>) -> Router {
    let body_limit = state.config.max_body_bytes;
    Router::new()
        .route("/", get(page::index))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/v1/model", get(model_card))
        .route("/openapi.json", get(openapi_json))
        .route(
            "/predict",
            post(predict)
                .layer(DefaultBodyLimit::max(body_limit))
                .layer(middleware::from_fn_with_state(state.clone(), linger)),
        )
        .route("/admin/reload", post(admin_reload))
        .merge(extra)
        .fallback(not_found)
        // Innermost first: the timeout, panic containment, JSON for every error, then metrics
        // (which thus see the final status of every request, a caught panic's 500 included).
        .layer(middleware::from_fn_with_state(state.clone(), timeout))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

// ---------------------------------------------------------------------------------------------
// Middleware

async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // The route pattern, not the path: label cardinality stays bounded.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    // Methods are client-controlled: the ones the API knows, else one `other` value.
    let method = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "other",
    };
    let started = Instant::now();
    // A guard, so a request whose client went away (its future dropped) is not counted forever.
    struct InFlight(prometheus::IntGauge);
    impl Drop for InFlight {
        fn drop(&mut self) {
            self.0.dec();
        }
    }
    state.metrics.in_flight.inc();
    let guard = InFlight(state.metrics.in_flight.clone());
    let context = Arc::new(RequestContext::from_headers(req.headers()));
    let path = req.uri().path().to_string();
    let mut req = req;
    req.extensions_mut().insert(context.clone());
    let mut res = next.run(req).await;
    drop(guard);
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    state.metrics.observe_request(&route, method, status, elapsed);
    let kind = res.extensions().get::<ErrorKind>().map(|ErrorKind(kind)| *kind);
    if let Some(kind) = kind {
        state.metrics.errors.with_label_values(&[kind]).inc();
    }
    if let Some(v) = context.header_value() {
        res.headers_mut().insert(logging::REQUEST_ID.clone(), v);
    }
    let latency_ms = elapsed.as_secs_f64() * 1e3;
    let error = kind.unwrap_or("");
    // Probes and scrapes come every few seconds from the orchestrator: debug, not info.
    if matches!(route.as_str(), "/health" | "/ready" | "/metrics") {
        tracing::debug!(target: "asl_http::access", request_id = %context.id, method, path = %path, route = %route,
            status, latency_ms, images = context.images(), error, "{method} {path} {status}");
    } else {
        tracing::info!(target: "asl_http::access", request_id = %context.id, method, path = %path, route = %route,
            status, latency_ms, images = context.images(), error, "{method} {path} {status}");
    }
    res
}

/// Feeds the request body to the handler through a channel, and keeps reading (and
/// discarding) whatever the handler did not read: after an early error or a timeout, the
/// client then gets the JSON answer instead of a connection reset in the middle of its upload
/// (the "lingering close" of other servers). Discarding is bounded in bytes and time.
async fn linger(State(state): State<AppState>, req: Request, next: Next) -> Response {
    const DISCARD_FOR: Duration = Duration::from_secs(5);
    let discard_cap = state.config.max_body_bytes as u64 * 2 + (1 << 20);
    let (parts, body) = req.into_parts();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, axum::Error>>(8);
    tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        let mut tx = Some(tx);
        let (mut discarded, mut deadline) = (0u64, None);
        loop {
            let chunk = match deadline {
                None => stream.next().await,
                Some(d) => tokio::time::timeout_at(d, stream.next()).await.ok().flatten(),
            };
            let Some(chunk) = chunk else { break };
            let len = chunk.as_ref().map_or(0, |b| b.len() as u64);
            if let Some(sender) = &tx {
                match sender.send(chunk).await {
                    Ok(()) => continue,
                    Err(_) => {
                        // The handler is done with the body: discard the rest, for a while.
                        tx = None;
                        deadline = Some(tokio::time::Instant::now() + DISCARD_FOR);
                    }
                }
            }
            discarded += len;
            if discarded > discard_cap {
                break;
            }
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    next.run(Request::from_parts(parts, body)).await
}

async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = state.config.request_timeout();
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("no answer within {} ms", limit.as_millis()),
        )
        .into_response(),
    }
}

fn panic_response(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let msg = crate::model::panic_message(&*payload);
    tracing::error!("a request panicked (contained): {msg}");
    ApiError::internal("the server hit a bug answering this request; it was contained and logged").into_response()
}

/// Every error leaves as the JSON `{error, message, file}`, those that axum makes itself (405
/// for a wrong method, a rejected extractor) included; their headers (`Allow`) stay.
async fn json_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || res.extensions().get::<ErrorKind>().is_some() {
        return res;
    }
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = res
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            (
                "method_not_allowed",
                format!("this route takes {allow}; see /openapi.json"),
            )
        }
        StatusCode::NOT_FOUND => ("not_found", "no such route; see /openapi.json".to_string()),
        StatusCode::PAYLOAD_TOO_LARGE => ("too_large", "the request is larger than the server accepts".to_string()),
        s if s.is_client_error() => ("bad_request", format!("the request was refused ({s})")),
        s => ("internal", format!("the server failed to answer ({s})")),
    };
    let allow = res.headers().get(header::ALLOW).cloned();
    let mut json = ApiError::new(status, code, message).into_response();
    if let Some(allow) = allow {
        json.headers_mut().insert(header::ALLOW, allow);
    }
    json
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route; see /openapi.json")
}

// ---------------------------------------------------------------------------------------------
// Small routes

/// The server is alive.
#[utoipa::path(get, path = "/health", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// A model is loaded and predictions can be answered.
#[utoipa::path(get, path = "/ready", responses((status = 200, body = Ready), (status = 503, description = "no model loaded", body = crate::error::ErrorBody)))]
pub async fn ready(State(state): State<AppState>) -> ApiResult<Json<Ready>> {
    let model = state.model()?;
    Ok(Json(Ready {
        ready: true,
        model: model.card.name.clone(),
    }))
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Drift is computed per scrape (a few ms for a full window), off the async threads.
    let st = state.clone();
    let _ = tokio::task::spawn_blocking(move || st.monitor.export(&st.metrics)).await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}

/// The model card (`model.json`) of the model being served.
#[utoipa::path(get, path = "/v1/model", responses((status = 200, description = "the model card", body = Object), (status = 503, description = "no model loaded", body = crate::error::ErrorBody)))]
pub async fn model_card(State(state): State<AppState>) -> ApiResult<Json<ModelCard>> {
    Ok(Json(state.model()?.card.clone()))
}

/// This API, described (OpenAPI 3.1).
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, body = Object)))]
pub async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], openapi::json())
}

// ---------------------------------------------------------------------------------------------
// Prediction

/// Classify photos. One `image` field: that letter. A `zipfile`, or several `image` fields:
/// every letter in order and the word they spell. `?raw=true` reads the letters without the
/// dictionary.
#[utoipa::path(
    post,
    path = "/predict",
    params(("raw" = Option<bool>, Query, description = "Read the word letter by letter, without the dictionary")),
    request_body(content = crate::api::PredictForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, body = PredictResponse),
        (status = 400, description = "malformed multipart body, or no `image`/`zipfile` field", body = crate::error::ErrorBody),
        (status = 413, description = "body, zip, image count or pixels over the limits", body = crate::error::ErrorBody),
        (status = 415, description = "not multipart, or not a JPEG/PNG/zip", body = crate::error::ErrorBody),
        (status = 422, description = "unreadable image or zip", body = crate::error::ErrorBody),
        (status = 503, description = "no model loaded, overloaded, or timed out", body = crate::error::ErrorBody),
    )
)]
pub async fn predict(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
) -> ApiResult<Json<PredictResponse>> {
    check_upload_headers(&state, &headers)?;
    let context = request
        .extensions()
        .get::<Arc<RequestContext>>()
        .cloned()
        .unwrap_or_else(|| Arc::new(RequestContext::from_headers(&headers)));
    // The body first, within its own timeout: a slow client holds no request permit.
    let (parts, body) = request.into_parts();
    let (body, body_share) = read_body(&state, body).await?;
    let permit = request_permit(&state)?;
    // Held by the handler and by each blocking job it starts, so the permit is released when
    // the work ends, not when an impatient client leaves.
    let guard = Arc::new(RequestGuard {
        _permit: permit,
        _body_share: body_share,
        context,
    });
    // This request runs to the end on this model, whatever reloads happen meanwhile.
    let model = state.model()?;
    let raw = parts
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| matches!(kv, "raw" | "raw=true" | "raw=1")));
    let form = Multipart::from_request(Request::from_parts(parts, Body::from(body)), &state)
        .await
        .map_err(|e| ApiError::bad_request("bad_multipart", e.body_text()))?;
    let upload = upload::read_multipart(form, &state.config).await?;
    let answer = answer_upload(&state, &guard, model, upload, raw).await?;
    Ok(Json(answer))
}

/// Refuses, before the body is read, a request that is not multipart (415) or that declares
/// a body larger than the server accepts (413).
fn check_upload_headers(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.to_ascii_lowercase().starts_with("multipart/form-data") {
        return Err(ApiError::unsupported(
            "send multipart/form-data with an `image` or `zipfile` field",
        ));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.config.max_body_bytes as u64) {
        return Err(ApiError::too_large(format!(
            "the upload is larger than the {} bytes the server accepts",
            state.config.max_body_bytes
        )));
    }
    Ok(())
}

/// One of the server's request permits, or 503 `overloaded` when all are in use.
fn request_permit(state: &AppState) -> ApiResult<OwnedSemaphorePermit> {
    state.requests.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many requests in flight; retry shortly",
        )
    })
}

/// The answer to an upload: one photo is a letter; several photos, or a zip, spell a word.
async fn answer_upload(
    state: &AppState,
    guard: &Arc<RequestGuard>,
    model: Arc<Classifier>,
    upload: Upload,
    raw: bool,
) -> ApiResult<PredictResponse> {
    Ok(match upload {
        Upload::Images(mut photos) if photos.len() == 1 => {
            state.metrics.images_per_request.observe(1.0);
            let photo = photos.remove(0);
            PredictResponse::Letter(one_photo(state, guard, model, photo).await?)
        }
        Upload::Images(photos) => {
            state.metrics.images_per_request.observe(photos.len() as f64);
            PredictResponse::Word(
                word(
                    state,
                    guard,
                    model,
                    Batch::Photos(PhotoBatch {
                        photos,
                        skipped: Vec::new(),
                    }),
                    raw,
                )
                .await?,
            )
        }
        Upload::Zip { name, bytes } => {
            if !upload::looks_like_zip(&bytes) {
                return Err(ApiError::unsupported("the zipfile field is not a zip archive").with_file(name));
            }
            PredictResponse::Word(word(state, guard, model, Batch::Zip(bytes), raw).await?)
        }
    })
}

/// What a prediction request holds until its last piece of work ends: a request permit and
/// its share of the server's body buffer.
struct RequestGuard {
    _permit: OwnedSemaphorePermit,
    _body_share: OwnedSemaphorePermit,
    /// The request's id (logged with its predictions) and its photo count (access log).
    context: Arc<RequestContext>,
}

/// Reads the whole body within `body_timeout`, at most `max_body_bytes`, taking its bytes
/// from the server-wide body buffer as they arrive (none left: 503 `overloaded`).
async fn read_body(state: &AppState, body: Body) -> ApiResult<(Bytes, OwnedSemaphorePermit)> {
    let limit = state.config.max_body_bytes;
    let overloaded = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many uploads are being received; retry shortly",
        )
    };
    let mut share = state
        .body_buffer
        .clone()
        .try_acquire_many_owned(0)
        .map_err(|_| overloaded())?;
    // Grown as bytes arrive (never sized from a declared length a client may not send).
    let mut buf = Vec::new();
    let read = async {
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::bad_request("bad_body", format!("reading the upload failed: {e}")))?;
            if buf.len() + chunk.len() > limit {
                return Err(ApiError::too_large(format!(
                    "the upload is larger than the {limit} bytes the server accepts"
                )));
            }
            let n = u32::try_from(chunk.len()).map_err(|_| overloaded())?;
            share.merge(
                state
                    .body_buffer
                    .clone()
                    .try_acquire_many_owned(n)
                    .map_err(|_| overloaded())?,
            );
            buf.extend_from_slice(&chunk);
        }
        Ok(())
    };
    let limit_ms = state.config.body_timeout_ms;
    tokio::time::timeout(state.config.body_timeout(), read)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!("the upload did not arrive within {limit_ms} ms"),
            )
        })??;
    Ok((Bytes::from(buf), share))
}

/// Runs blocking work (decoding) off the async runtime, a bounded number at a time. The job
/// holds the request's guard: its permits are released when the job ends.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    guard: &Arc<RequestGuard>,
    f: impl FnOnce() -> T + Send + 'static,
) -> ApiResult<T> {
    let decoder = state
        .decoders
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::internal("shutting down"))?;
    let guard = guard.clone();
    tokio::task::spawn_blocking(move || {
        let _held = (decoder, guard);
        f()
    })
    .await
    .map_err(|e| {
        tracing::error!("a decoding task failed (contained): {e}");
        ApiError::internal("decoding the upload failed unexpectedly")
    })
}

async fn one_photo(
    state: &AppState,
    guard: &Arc<RequestGuard>,
    model: Arc<Classifier>,
    photo: asl_core::word::Photo,
) -> ApiResult<LetterResponse> {
    // Tell the batcher a photo is on its way, so it may hold a forward pass for it.
    let ticket = state.batcher.ticket();
    let size = model.input_size() as u32;
    let with_view = model.wants_view();
    let st = state.clone();
    let (name, img, features) = blocking(state, guard, move || {
        upload::decode_photo(&photo, size, with_view, &st.config).map(|(img, f)| (photo.name, img, f))
    })
    .await??;
    let preds = ticket.predict(model.clone(), vec![img]).await?;
    let p = preds
        .first()
        .ok_or_else(|| ApiError::internal("the model returned no prediction"))?;
    guard.context.set_images(1);
    state
        .monitor
        .observe(&guard.context.id, &model.card.name, &[(features, p)], &state.metrics);
    Ok(LetterResponse::new(name, p, &model.card.name))
}

enum Batch {
    Photos(PhotoBatch),
    Zip(Vec<u8>),
}

/// Set when dropped: tells blocking work that its request was abandoned (timeout, client gone).
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

async fn word(
    state: &AppState,
    guard: &Arc<RequestGuard>,
    model: Arc<Classifier>,
    batch: Batch,
    raw: bool,
) -> ApiResult<WordResponse> {
    let ticket = state.batcher.ticket();
    let size = model.input_size() as u32;
    let with_view = model.wants_view();
    let st = state.clone();
    let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
    let cancelled = cancel.0.clone();
    // Reading the zip and decoding its photos (in parallel) happen in one blocking task.
    let decoded = blocking(state, guard, move || -> Result<_, WordError> {
        let batch = match batch {
            Batch::Photos(b) => b,
            Batch::Zip(bytes) => {
                let b = asl_core::word::read_zip(&bytes, &st.config.upload)?;
                st.metrics.images_per_request.observe(b.photos.len() as f64);
                b
            }
        };
        let (ok, mut skipped) = upload::decode_photos(&batch.photos, size, with_view, &st.config, &cancelled);
        skipped.extend(batch.skipped);
        Ok((ok, skipped))
    })
    .await??;
    let (ok, skipped) = decoded;
    if ok.is_empty() {
        return Err(WordError::NoPhotos(skipped).into());
    }
    let mut names = Vec::with_capacity(ok.len());
    let mut images = Vec::with_capacity(ok.len());
    let mut features = Vec::with_capacity(ok.len());
    for (n, img, f) in ok {
        names.push(n);
        images.push(img);
        features.push(f);
    }
    let preds = ticket.predict(model.clone(), images).await?;
    let observed: Vec<_> = features.into_iter().zip(preds.iter()).collect();
    guard.context.set_images(observed.len());
    state
        .monitor
        .observe(&guard.context.id, &model.card.name, &observed, &state.metrics);
    let lexicon = state.lexicon;
    let (est, preds) = tokio::task::spawn_blocking(move || {
        let cfg = DecodeConfig::default();
        asl_core::word::estimate(&names, &preds, skipped, raw, lexicon, &cfg).map(|a| (a.estimate, preds))
    })
    .await
    .map_err(|_| ApiError::internal("estimating the word failed unexpectedly"))??;
    drop(cancel);
    Ok(WordResponse::new(est, &preds, &model.card.name))
}

// ---------------------------------------------------------------------------------------------
// Admin

/// Reload the model from its source now (requires `Authorization: Bearer $ASL_ADMIN_TOKEN`).
/// Requests in flight finish on the model they started with.
#[utoipa::path(
    post,
    path = "/admin/reload",
    responses(
        (status = 200, body = Reloaded),
        (status = 401, description = "missing or wrong bearer token", body = crate::error::ErrorBody),
        (status = 403, description = "reloading is disabled (no ASL_ADMIN_TOKEN on the server)", body = crate::error::ErrorBody),
        (status = 500, description = "the model could not be loaded; the current one stays", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn admin_reload(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Reloaded>, Response> {
    let Some(expected) = state.config.admin_token.as_deref() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "reloading is disabled: start the server with ASL_ADMIN_TOKEN set",
        )
        .into_response());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !constant_time_eq(given.trim().as_bytes(), expected.as_bytes()) {
        let mut res = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid `Authorization: Bearer <token>` header is required",
        )
        .into_response();
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Err(res);
    }
    match state.reload().await {
        Ok(m) => Ok(Json(Reloaded {
            reloaded: true,
            model: m.card.name.clone(),
            created_at: m.card.created_at,
        })),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "reload_failed",
            format!("{e}; the current model stays"),
        )
        .into_response()),
    }
}

/// Compares secrets without an early exit (no timing hint about the matching prefix).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
