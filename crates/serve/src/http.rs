//! The routes: health, models, metrics and embeddings. Handlers only check, queue and wait; model work happens on
//! the models' own threads.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use biotorch_design::{Filter, GenerateRequest, Objective, OptimizeRequest};
use biotorch_models::embed::Pooling;
use biotorch_models::SamplingOptions;
use serde_json::json;
use tokio::sync::oneshot;
use utoipa::OpenApi;

use crate::api::{
    ApiError, EmbeddingsRequest, EmbeddingsResponse, ErrorBody, GenerateApiRequest, GenerateResponse, ModelList,
    PredictRequest, PredictResponse, PredictionRow, ScoreRequest, ScoreResponse, TargetValue, Vectors,
};
use crate::decoder::DecoderHandle;
use crate::encoder::EncoderHandle;
use crate::head::HeadHandle;
use crate::metrics::Metrics;

/// Limits on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body (413 above).
    pub max_body_bytes: usize,
    /// Most sequences in one request (413 above).
    pub max_sequences_per_request: usize,
    /// Longest a request may wait for its results (504 after).
    pub request_timeout: Duration,
}

/// What the handlers share.
pub(crate) struct AppState {
    /// Set once every model is loaded and warmed up.
    pub(crate) models: OnceLock<BTreeMap<String, Arc<EncoderHandle>>>,
    /// Set with `models`.
    pub(crate) decoders: OnceLock<BTreeMap<String, Arc<DecoderHandle>>>,
    /// Set with `models`.
    pub(crate) heads: OnceLock<BTreeMap<String, Arc<HeadHandle>>>,
    /// False until the models are ready, and again once shutdown starts.
    pub(crate) ready: AtomicBool,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) limits: Limits,
    /// The token budget of a batch (the score requests' passes are batched under it too).
    pub(crate) batch_tokens: usize,
}

/// The endpoints metrics count by name; anything else counts as `other`.
const ENDPOINTS: &[&str] = &[
    "/v1/health/live",
    "/v1/health/ready",
    "/v1/models",
    "/v1/metrics",
    "/v1/embeddings",
    "/v1/predict",
    "/v1/generate",
    "/v1/score",
];

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/health/live", get(live))
        .route("/v1/health/ready", get(ready))
        .route("/v1/models", get(models))
        .route("/v1/metrics", get(metrics))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/predict", post(predict))
        .route("/v1/generate", post(generate))
        .route("/v1/score", post(score))
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), count))
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .with_state(state)
}

/// Counts every answered request by endpoint and status.
async fn count(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let endpoint = ENDPOINTS.iter().find(|e| **e == path).copied().unwrap_or("other");
    let response = next.run(request).await;
    state.metrics.request(endpoint, response.status().as_u16());
    response
}

/// The API, described with OpenAPI 3 from the Rust types (`GET /openapi.json`).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "biotorch serve",
        description = "Models kept loaded behind a JSON API, with batching across requests. Errors are {\"error\": {\"code\", \"message\"}}."
    ),
    paths(live, ready, models, metrics, embeddings, generate, predict, score)
)]
struct ApiDoc;

/// 200 while the process runs.
#[utoipa::path(get, path = "/v1/health/live", responses((status = 200, description = "the process runs")))]
async fn live() -> Json<serde_json::Value> {
    Json(json!({"status": "live"}))
}

/// 503 until every model is loaded and warmed up (and again once shutdown starts), then 200.
#[utoipa::path(get, path = "/v1/health/ready", responses((status = 200, description = "ready"), (status = 503, body = ErrorBody)))]
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::SeqCst) {
        Json(json!({"status": "ready"})).into_response()
    } else {
        let mut error = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "the models are not loaded yet");
        error.retry_after = Some(1);
        error.into_response()
    }
}

/// The loaded models and heads.
#[utoipa::path(get, path = "/v1/models", responses((status = 200, body = ModelList)))]
async fn models(State(state): State<Arc<AppState>>) -> Json<ModelList> {
    let mut models: Vec<_> =
        state.models.get().map(|m| m.values().map(|h| h.card.clone()).collect()).unwrap_or_default();
    models.extend(state.decoders.get().into_iter().flat_map(|h| h.values().map(|h| h.card.clone())));
    models.extend(state.heads.get().into_iter().flat_map(|h| h.values().map(|h| h.card.clone())));
    Json(ModelList { models })
}

/// Prometheus text: requests by endpoint and status, queue wait, compute time, batch sizes, tokens.
#[utoipa::path(get, path = "/v1/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

/// A JSON body rejected by axum, as an error of ours (413 for a body over the limit, 400 otherwise).
fn rejected(rejection: JsonRejection) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
        }
        status => ApiError::new(status, "bad_request", rejection.body_text()),
    }
}

/// The model a request names: 503 while loading, 404 when there is none of that name.
fn model(state: &AppState, name: &str) -> Result<Arc<EncoderHandle>, ApiError> {
    let models = state.models.get().ok_or_else(not_ready)?;
    if state.decoders.get().is_some_and(|d| d.contains_key(name)) {
        return Err(ApiError::invalid("wrong_model_kind", format!("'{name}' is a SMILES decoder: use /v1/generate")));
    }
    models.get(name).cloned().ok_or_else(|| {
        let known: Vec<&str> = models.keys().map(String::as_str).collect();
        ApiError::new(
            StatusCode::NOT_FOUND,
            "model_not_found",
            format!("no model named '{name}' (loaded: {})", known.join(", ")),
        )
    })
}

/// Waits for a model thread's answer, at most the request timeout (504 after).
async fn answer<T>(state: &AppState, receiver: oneshot::Receiver<Result<T, ApiError>>) -> Result<T, ApiError> {
    match tokio::time::timeout(state.limits.request_timeout, receiver).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(_)) => Err(ApiError::internal("the model's thread stopped before answering")),
        Err(_) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!("no result within {:.1} s", state.limits.request_timeout.as_secs_f64()),
        )),
    }
}

/// Predictions of a head for sequences or SMILES, as `biotorch predict`.
#[utoipa::path(post, path = "/v1/predict", request_body = PredictRequest, responses((status = 200, body = PredictResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 500, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
async fn predict(
    State(state): State<Arc<AppState>>,
    body: Result<Json<PredictRequest>, JsonRejection>,
) -> Result<Json<PredictResponse>, ApiError> {
    let Json(request) = body.map_err(rejected)?;
    let heads = state.heads.get().ok_or_else(not_ready)?;
    let head = heads.get(&request.head).cloned().ok_or_else(|| {
        let known: Vec<&str> = heads.keys().map(String::as_str).collect();
        ApiError::new(
            StatusCode::NOT_FOUND,
            "head_not_found",
            format!("no head named '{}' (loaded: {})", request.head, known.join(", ")),
        )
    })?;
    let (what, texts) = match (request.sequences, request.smiles) {
        (Some(texts), None) => ("sequence", texts),
        (None, Some(texts)) => ("SMILES", texts),
        _ => return Err(ApiError::invalid("bad_request", "give either \"sequences\" or \"smiles\"")),
    };
    check_count(&state, texts.len())?;
    let rows = answer(&state, head.submit(texts)?).await?;
    if let Some((i, reason)) = rows.iter().enumerate().find_map(|(i, r)| r.reason.as_ref().map(|reason| (i, reason))) {
        return Err(ApiError::invalid("invalid_input", format!("{what} {i}: {reason}")));
    }
    let targets = &head.spec.targets;
    let predictions = rows
        .into_iter()
        .map(|row| PredictionRow {
            in_training: row.in_training,
            targets: targets
                .iter()
                .zip(row.targets)
                .map(|(spec, t)| {
                    let class = t.class.and_then(|c| spec.classes.get(c).cloned());
                    let probs = spec.classes.iter().cloned().zip(t.probs).collect();
                    (spec.name.clone(), TargetValue { value: t.value, std: t.std, class, probs })
                })
                .collect(),
        })
        .collect();
    Ok(Json(PredictResponse { head: request.head, predictions }))
}

/// Molecules sampled from a SMILES decoder, as `biotorch generate`; with `objective`, the best molecules of the
/// optimisation of `biotorch optimize` (with its per-step metrics).
#[utoipa::path(post, path = "/v1/generate", request_body = GenerateApiRequest, responses((status = 200, body = GenerateResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 500, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
async fn generate(
    State(state): State<Arc<AppState>>,
    body: Result<Json<GenerateApiRequest>, JsonRejection>,
) -> Result<Json<GenerateResponse>, ApiError> {
    let Json(r) = body.map_err(rejected)?;
    let decoders = state.decoders.get().ok_or_else(not_ready)?;
    let decoder = decoders.get(&r.model).cloned().ok_or_else(|| {
        let known: Vec<&str> = decoders.keys().map(String::as_str).collect();
        ApiError::new(
            StatusCode::NOT_FOUND,
            "model_not_found",
            format!("no SMILES decoder named '{}' (loaded: {})", r.model, known.join(", ")),
        )
    })?;
    if r.objective.is_some() {
        return optimize(&state, &decoder, r).await;
    }
    refuse_given(
        &[
            (r.similar_to.is_some(), "similar_to"),
            (r.min_similarity.is_some(), "min_similarity"),
            (r.steps.is_some(), "steps"),
            (r.batch_size.is_some(), "batch_size"),
        ],
        "is an option of the optimisation: give an \"objective\" too",
    )?;
    let n = r.num_molecules.unwrap_or(1);
    check_count(&state, usize::try_from(n).unwrap_or(usize::MAX))?;
    let filter = parse_filter(r.filter.as_deref())?;
    let sampling = SamplingOptions {
        temperature: r.temperature.unwrap_or(1.0),
        top_k: r.top_k,
        top_p: r.top_p,
        seed: r.seed,
        ..SamplingOptions::default()
    };
    let request = GenerateRequest {
        n,
        shard: None,
        sampling,
        filter,
        unique_valid: r.unique,
        max_samples: None,
        properties: true,
        scaffold: None,
    };
    request.validate(false).map_err(|e| ApiError::invalid("invalid_request", e.to_string()))?;
    let rows = answer(&state, decoder.submit(request)?).await?;
    Ok(Json(GenerateResponse {
        model: r.model,
        molecules: rows.iter().map(crate::decoder::row_json).collect(),
        steps: None,
    }))
}

/// `POST /v1/generate` with an objective: the optimisation of `biotorch optimize` (its defaults for what the
/// request does not say), the best unique molecules and the per-step metrics.
async fn optimize(
    state: &AppState,
    decoder: &DecoderHandle,
    r: GenerateApiRequest,
) -> Result<Json<GenerateResponse>, ApiError> {
    refuse_given(
        &[
            (r.temperature.is_some(), "temperature"),
            (r.top_k.is_some(), "top_k"),
            (r.top_p.is_some(), "top_p"),
            (r.unique, "unique"),
        ],
        "is not used with \"objective\" (the optimisation samples at temperature 1)",
    )?;
    let objective = Objective::parse(r.objective.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::invalid("invalid_objective", e.to_string()))?;
    let filter = parse_filter(r.filter.as_deref())?;
    let top = r.num_molecules.unwrap_or(OptimizeRequest::TOP as u64);
    check_count(state, usize::try_from(top).unwrap_or(usize::MAX))?;
    let batch_size = r.batch_size.unwrap_or(OptimizeRequest::BATCH_SIZE);
    let limit = state.limits.max_sequences_per_request;
    if batch_size > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_sequences",
            format!("batch_size {batch_size}: at most {limit} samples per step"),
        ));
    }
    // `biotorch optimize`'s defaults for the rest.
    let request = OptimizeRequest {
        filter,
        similar_to: r.similar_to,
        min_similarity: r.min_similarity,
        steps: r.steps.unwrap_or(OptimizeRequest::STEPS),
        batch_size,
        seed: r.seed,
        top: top as usize,
        ..OptimizeRequest::new(objective)
    };
    request.validate().map_err(|e| ApiError::invalid("invalid_request", e.to_string()))?;
    let result = answer(state, decoder.optimize(request)?).await?;
    let steps = result.steps.iter().map(|s| serde_json::to_value(s).unwrap_or_default()).collect();
    Ok(Json(GenerateResponse {
        model: r.model,
        molecules: result.best.iter().enumerate().map(|(i, c)| crate::decoder::candidate_json(i + 1, c)).collect(),
        steps: Some(steps),
    }))
}

/// 422 naming the first field given of `fields` (whether given, name), with `why`.
fn refuse_given(fields: &[(bool, &str)], why: &str) -> Result<(), ApiError> {
    match fields.iter().find(|(given, _)| *given) {
        Some((_, field)) => Err(ApiError::invalid("invalid_request", format!("\"{field}\" {why}"))),
        None => Ok(()),
    }
}

/// A request's `filter` expression, parsed (422 with the expression language's message).
fn parse_filter(filter: Option<&str>) -> Result<Option<Filter>, ApiError> {
    filter.map(Filter::parse).transpose().map_err(|e| ApiError::invalid("invalid_filter", e.to_string()))
}

/// Zero-shot scores of mutations of a wild type, as `biotorch score --skip-invalid`: one row per mutation in input
/// order, an invalid mutation flagged (`valid: false`, `reason`) rather than failing the request.
#[utoipa::path(post, path = "/v1/score", request_body = ScoreRequest, responses((status = 200, body = ScoreResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 500, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
async fn score(
    State(state): State<Arc<AppState>>,
    body: Result<Json<ScoreRequest>, JsonRejection>,
) -> Result<Json<ScoreResponse>, ApiError> {
    let Json(request) = body.map_err(rejected)?;
    let handle = model(&state, &request.model)?;
    check_count(&state, request.mutations.len())?;
    let prepared = crate::score::prepare(&handle, &request)?;
    let method = prepared.method.name().to_string();
    let receiver = crate::score::submit(&handle, prepared, request.mutations, state.batch_tokens)?;
    let scores = answer(&state, receiver).await?;
    Ok(Json(ScoreResponse { model: request.model, method, offset: request.offset, scores }))
}

/// 422 for no inputs, 413 for more than a request may hold.
fn check_count(state: &AppState, n: usize) -> Result<(), ApiError> {
    let limit = state.limits.max_sequences_per_request;
    if n == 0 {
        return Err(ApiError::invalid("invalid_sequence", "give at least one input"));
    }
    if n > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_sequences",
            format!("{n} inputs in one request; the limit is {limit}"),
        ));
    }
    Ok(())
}

fn not_ready() -> ApiError {
    let mut error = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "the models are not loaded yet");
    error.retry_after = Some(1);
    error
}

/// Embeddings of sequences, as `biotorch embed`, batched with other requests' sequences: JSON, or with
/// `Accept: application/vnd.apache.arrow.stream` an Arrow IPC stream of one row per sequence (index, length,
/// truncated, embedding as list<float32> or per token as list<list<float32>>; with several layers one
/// embedding_layer_N column per layer).
#[utoipa::path(post, path = "/v1/embeddings", request_body = EmbeddingsRequest, responses((status = 200, content((EmbeddingsResponse = "application/json"), (Vec<u8> = "application/vnd.apache.arrow.stream"))), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 500, body = ErrorBody), (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
async fn embeddings(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<EmbeddingsRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body.map_err(rejected)?;
    let handle = model(&state, &request.model)?;
    check_count(&state, request.sequences.len())?;
    let prepared = handle.prepare(&request.sequences, &request.pooling, &request.layers, request.truncate)?;
    let lengths = request.sequences.iter().map(|s| s.trim().chars().count()).collect();
    let receiver = handle.queue.submit(prepared.columns, prepared.tokens)?;
    let rows = answer(&state, receiver).await?;
    let width = handle.card.embedding_width;
    let value = |v: &[f32]| match prepared.pooling {
        Pooling::PerToken => Vectors::PerToken(v.chunks(width.max(1)).map(<[f32]>::to_vec).collect()),
        Pooling::Mean | Pooling::Cls => Vectors::Pooled(v.to_vec()),
    };
    let truncated = rows.iter().map(|r| r.truncated).collect();
    let embeddings = rows
        .iter()
        .map(|row| match row.vectors.as_slice() {
            [one] => value(one),
            several => Vectors::Layers(several.iter().map(|v| value(v)).collect()),
        })
        .collect();
    let response = EmbeddingsResponse {
        model: request.model,
        pooling: prepared.pooling.name().to_string(),
        layers: prepared.layers,
        embeddings,
        lengths,
        truncated,
    };
    if crate::arrow::wanted(&headers) {
        let bytes = crate::arrow::embeddings(&response)?;
        return Ok(([(header::CONTENT_TYPE, crate::arrow::ARROW_STREAM)], bytes).into_response());
    }
    Ok(Json(response).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_describes_every_endpoint_and_its_types() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        for path in ENDPOINTS.iter().filter(|p| **p != "/openapi.json") {
            assert!(doc["paths"].get(*path).is_some(), "{path} is not described");
        }
        for schema in [
            "EmbeddingsRequest",
            "EmbeddingsResponse",
            "ErrorBody",
            "ModelList",
            "GenerateApiRequest",
            "PredictRequest",
            "ScoreRequest",
            "ScoreResponse",
        ] {
            assert!(doc["components"]["schemas"].get(schema).is_some(), "no schema {schema}");
        }
        let request = &doc["components"]["schemas"]["EmbeddingsRequest"];
        assert_eq!(request["required"], json!(["model", "sequences"]));
    }
}
