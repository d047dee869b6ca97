//! The JSON of the API: requests, responses, and the error body `{"error": {"code", "message"}}` every failed
//! request gets.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A failed request: an HTTP status and a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The machine-readable code (`bad_request`, `invalid_sequence`, `model_not_found`, `queue_full`, ...).
    pub code: &'static str,
    /// What went wrong, naming the sequence and position where there is one.
    pub message: String,
    /// Seconds to wait before retrying (sent as `Retry-After` with 429 and 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), retry_after: None }
    }

    /// 400: the body is not the JSON the endpoint takes.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 422: the JSON is well formed but a value is not acceptable (a sequence, a pooling, a layer).
    pub fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 500: the server failed on this request (it keeps serving the others).
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// 500 for work that panicked (`payload`): `out_of_memory` with libtorch's words when the device ran out of
    /// memory, else `internal` with `message`.
    pub fn panicked(payload: &(dyn std::any::Any + Send), message: &str) -> ApiError {
        use biotorch_models::memory;
        match memory::panic_message(payload).filter(|m| memory::is_out_of_memory(m)) {
            Some(m) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "out_of_memory",
                format!(
                    "the model's device ran out of memory on this request ({}): send fewer or shorter inputs, or \
                     start the server with a smaller --max-batch-tokens",
                    memory::out_of_memory_detail(m)
                ),
            ),
            None => ApiError::internal(message),
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// `code` and `message` of an error response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code.
    pub code: String,
    /// A sentence for the user.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code.to_string(), message: self.message } };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

fn default_pooling() -> String {
    "mean".to_string()
}

fn default_layers() -> Vec<i64> {
    vec![-1]
}

/// `POST /v1/embeddings`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingsRequest {
    /// The model, by the name it was loaded under.
    pub model: String,
    /// The sequences (protein or DNA, as the model's tokenizer reads them).
    pub sequences: Vec<String>,
    /// `mean` (over residues), `cls` or `per_token`.
    #[serde(default = "default_pooling")]
    pub pooling: String,
    /// Hidden states to pool: 0 is the embedding output, 1..L the layers, negative numbers count from the end.
    #[serde(default = "default_layers")]
    pub layers: Vec<i64>,
    /// Keep the first max-length tokens of longer sequences instead of refusing them (422).
    #[serde(default)]
    pub truncate: bool,
}

/// The answer to `POST /v1/embeddings`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EmbeddingsResponse {
    /// The model's name.
    pub model: String,
    /// The pooling used.
    pub pooling: String,
    /// The layers used, as hidden-state numbers from 0 (negative ones resolved, repeats dropped).
    pub layers: Vec<usize>,
    /// Per sequence: a vector (`mean`, `cls`) or one vector per residue token (`per_token`, specials excluded);
    /// with several layers, a list of those, one per layer in the order asked.
    pub embeddings: Vec<Vectors>,
    /// Residues of each sequence.
    pub lengths: Vec<usize>,
    /// Whether each sequence was truncated to the model's max length.
    pub truncated: Vec<bool>,
}

/// One entry of `GET /v1/models`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelCard {
    /// The name requests use.
    pub name: String,
    /// `encoder`.
    pub kind: String,
    /// `protein` or `dna`.
    pub modality: String,
    /// Width of the embeddings.
    pub embedding_width: usize,
    /// Number of layers (hidden states 0..=layers).
    pub layers: usize,
    /// The longest sequence, in residues (tokens without the two specials).
    pub max_length: usize,
    /// SHA-256 of the weights, as `biotorch embed` records it.
    pub weights_sha256: String,
}

/// `GET /v1/models`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelList {
    /// The loaded models (empty until they are loaded).
    pub models: Vec<ModelCard>,
}

/// The values of one sequence in [`EmbeddingsResponse::embeddings`] (JSON: nested arrays of numbers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Vectors {
    /// One pooled vector.
    Pooled(Vec<f32>),
    /// One vector per token.
    PerToken(Vec<Vec<f32>>),
    /// One of the above per layer.
    #[schema(value_type = Vec<Object>)]
    Layers(Vec<Vectors>),
}

/// `POST /v1/predict`: give `sequences` (protein or DNA heads) or `smiles` (molecule heads).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    /// The head, by the name it was loaded under.
    pub head: String,
    /// Sequences, for a head on a sequence model.
    #[serde(default)]
    pub sequences: Option<Vec<String>>,
    /// SMILES, for a head on the SMILES model.
    #[serde(default)]
    pub smiles: Option<Vec<String>>,
}

/// One target's prediction.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TargetValue {
    /// Regression: the value (mean over the ensemble). Classification: the probability of `class`.
    pub value: f64,
    /// The spread over the ensemble's members (0 for one member).
    pub std: f64,
    /// Classification: the most probable class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Classification: every class's probability.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub probs: BTreeMap<String, f64>,
}

/// The prediction of one input.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PredictionRow {
    /// Per target of the head, by name.
    pub targets: BTreeMap<String, TargetValue>,
    /// Whether the input is one of the rows the head was trained or validated on.
    pub in_training: bool,
}

/// The answer to `POST /v1/predict`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PredictResponse {
    /// The head's name.
    pub head: String,
    /// One per input, in order.
    pub predictions: Vec<PredictionRow>,
}

/// `POST /v1/generate`: sample molecules from a SMILES decoder, as `biotorch generate`; with `objective`, steer the
/// decoder toward it by reinforcement learning and return the best molecules, as `biotorch optimize`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateApiRequest {
    /// The decoder, by the name it was loaded under.
    pub model: String,
    /// Samples to draw (with `unique`: valid, unique molecules to obtain); with `objective`, how many of the best
    /// unique molecules to return. Default 1; with `objective`, 100.
    #[serde(default)]
    pub num_molecules: Option<u64>,
    /// Seed of the sampling stream (and of the optimisation's updates): the same seed gives the same molecules.
    #[serde(default)]
    pub seed: u64,
    /// Sampling temperature (0: greedy); default 1. Not with `objective`.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Keep the k most likely tokens. Not with `objective`.
    #[serde(default)]
    pub top_k: Option<i64>,
    /// Nucleus sampling. Not with `objective`.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// A property filter (`--filter`'s language, e.g. `qed > 0.5 and mw < 500`): `passes` says who meets it; with
    /// `objective`, a hard constraint (molecules not meeting it score 0).
    #[serde(default)]
    pub filter: Option<String>,
    /// Sample until `num_molecules` valid, unique molecules (passing the filter, with one) exist. Not with
    /// `objective`.
    #[serde(default)]
    pub unique: bool,
    /// The score to maximize (`--objective`'s language, e.g. `qed - 0.1*sa + 0.5*sim_ref`): runs the optimisation of
    /// `biotorch optimize` (augmented hill-climb) and returns the best unique molecules.
    #[serde(default)]
    pub objective: Option<String>,
    /// With `objective`: a reference molecule (SMILES) for `sim_ref` and `min_similarity`.
    #[serde(default)]
    pub similar_to: Option<String>,
    /// With `objective`: molecules less similar than this to `similar_to` have their score scaled by
    /// similarity / this, and do not meet the constraints.
    #[serde(default)]
    pub min_similarity: Option<f64>,
    /// With `objective`: reinforcement-learning steps (default 50).
    #[serde(default)]
    pub steps: Option<u64>,
    /// With `objective`: molecules sampled per step (default 128).
    #[serde(default)]
    pub batch_size: Option<usize>,
}

/// The answer to `POST /v1/generate`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GenerateResponse {
    /// The decoder's name.
    pub model: String,
    /// One per sample, in sample order: index, smiles, state (valid, invalid, duplicate), canonical_smiles, nll,
    /// finished, passes, reason, scaffold, pains, brenk, properties (mw, logp, tpsa, hbd, hba, rotatable_bonds,
    /// rings, aromatic_rings, heavy_atoms, formal_charge, qed, sa). With `objective`: the best unique molecules,
    /// those meeting the constraints first, then by score: rank, smiles, canonical_smiles, score,
    /// meets_constraints, step, sim_ref, nll, scaffold, pains, brenk, properties (as `biotorch optimize` writes).
    #[schema(value_type = Vec<Object>)]
    pub molecules: Vec<serde_json::Value>,
    /// With `objective`: the metrics of each step (step, valid, unique, mean_score, top10_score, mean_qed,
    /// mean_sim_ref, meets_constraints, loss, scaffolds_full).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub steps: Option<Vec<serde_json::Value>>,
}

fn masked_marginal() -> String {
    "masked-marginal".to_string()
}

fn first_residue() -> i64 {
    1
}

/// `POST /v1/score`: zero-shot scores of mutations of a wild type with a masked protein LM, as `biotorch score`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreRequest {
    /// The model (a protein masked LM with its LM head), by the name it was loaded under.
    pub model: String,
    /// The wild-type protein sequence.
    pub wt: String,
    /// Mutation strings (`A24G`, `T02A`, `A24G:L30P`, `WT`); an invalid one is a flagged row, not a failed request.
    pub mutations: Vec<String>,
    /// `masked-marginal`, `wt-marginal` or `pll`.
    #[serde(default = "masked_marginal")]
    pub method: String,
    /// The residue number of the wild type's first residue.
    #[serde(default = "first_residue")]
    pub offset: i64,
}

/// The score of one mutation (one per input, in input order).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScoreRow {
    /// The mutation as given.
    pub mutation: String,
    /// The variant as a normalised mutation string (`WT` for the wild type); absent for an invalid row.
    pub mutant: Option<String>,
    /// The score (higher: more likely than the wild type); absent for an invalid row.
    pub score: Option<f64>,
    /// masked- and wt-marginal: the score of each substitution, in position order.
    pub sites: Option<Vec<f64>>,
    /// Whether the mutation could be scored.
    pub valid: bool,
    /// Why it could not (a malformed string, a position outside the wild type, a wrong wild-type letter).
    pub reason: Option<String>,
}

/// The answer to `POST /v1/score`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScoreResponse {
    /// The model's name.
    pub model: String,
    /// The method used.
    pub method: String,
    /// The residue number of the wild type's first residue.
    pub offset: i64,
    /// One per mutation, in input order.
    pub scores: Vec<ScoreRow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_for_lack_of_memory_says_so() {
        let oom: Box<dyn std::any::Any + Send> = Box::new(String::from(
            "called `Result::unwrap()` on an `Err` value: Torch(\"CUDA out of memory. Tried to allocate 2.00 GiB\\nstack\")",
        ));
        let e = ApiError::panicked(oom.as_ref(), "the model's work panicked on this request");
        assert_eq!((e.status, e.code), (StatusCode::INTERNAL_SERVER_ERROR, "out_of_memory"));
        assert!(e.message.contains("(CUDA out of memory. Tried to allocate 2.00 GiB)"), "{}", e.message);
        assert!(e.message.contains("--max-batch-tokens"), "{}", e.message);
        let other: Box<dyn std::any::Any + Send> = Box::new("index out of range");
        let e = ApiError::panicked(other.as_ref(), "the model's work panicked on this request");
        assert_eq!((e.code, e.message.as_str()), ("internal", "the model's work panicked on this request"));
    }
}
