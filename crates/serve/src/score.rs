//! `POST /v1/score`: zero-shot variant scores with biotorch-score's [`Scorer`], as `biotorch score --skip-invalid`
//! computes them. The handler parses the mutations against the wild type (an invalid one becomes a flagged row);
//! the scoring runs as a task on the encoder's own thread, through its queue.

use std::sync::Arc;

use biotorch_io::Modality;
use biotorch_score::{request, Method, MutationError, ScoreOptions, Scorer, Variant, WildType};
use tokio::sync::oneshot;

use crate::api::{ApiError, ScoreRequest, ScoreRow};
use crate::encoder::EncoderHandle;

/// A checked score request, ready for the model's thread.
pub(crate) struct Prepared {
    pub(crate) method: Method,
    wild_type: WildType,
    parsed: Vec<Result<Variant, MutationError>>,
}

/// Checks a request against the model (protein, method, wild-type letters) and parses its mutations: 422 naming
/// the field at fault; an invalid mutation is not an error but a row flagged with its reason.
pub(crate) fn prepare(handle: &EncoderHandle, request: &ScoreRequest) -> Result<Prepared, ApiError> {
    if handle.modality != Modality::Protein {
        return Err(ApiError::invalid(
            "wrong_model_kind",
            format!(
                "'{}' is a {} model: scoring needs a protein masked language model",
                handle.card.name,
                handle.modality.as_str()
            ),
        ));
    }
    let method =
        Method::parse(&request.method).map_err(|e| ApiError::invalid("invalid_method", format!("method: {e}")))?;
    let wild_type = WildType::new(&request.wt, request.offset);
    if wild_type.is_empty() {
        return Err(ApiError::invalid("invalid_wild_type", "wt: the wild-type sequence is empty"));
    }
    // As the scorer checks it (so that a bad letter costs no model work): every residue in the vocabulary.
    if let Some((index, &b)) = wild_type
        .residues
        .iter()
        .enumerate()
        .find(|(_, b)| handle.tokenizer.token_to_id(&(**b as char).to_string()).is_none())
    {
        return Err(ApiError::invalid(
            "invalid_wild_type",
            format!(
                "wt: '{}' at position {index} (residue number {}) is not in the model's vocabulary",
                b as char,
                wild_type.position(index)
            ),
        ));
    }
    let parsed = request.mutations.iter().map(|m| wild_type.parse(m)).collect();
    Ok(Prepared { method, wild_type, parsed })
}

/// Queues the scoring of `prepared` on the model's thread (429 when its queue is full); the receiver gets one row
/// per mutation, in input order.
pub(crate) fn submit(
    handle: &EncoderHandle,
    prepared: Prepared,
    mutations: Vec<String>,
    batch_tokens: usize,
) -> Result<oneshot::Receiver<Result<Vec<ScoreRow>, ApiError>>, ApiError> {
    let (tx, rx) = oneshot::channel();
    let tokenizer = Arc::clone(&handle.tokenizer);
    let weight = mutations.len();
    handle.queue.submit_task(
        weight,
        Box::new(move |model| {
            if tx.is_closed() {
                return;
            }
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let scorer = Scorer::new(model, tokenizer.as_ref())?;
                // As `biotorch score` without --max-length: the model's whole context.
                let max_tokens = biotorch_score::max_tokens(model, None);
                let options = ScoreOptions { method: prepared.method, max_tokens, batch_tokens };
                request::score_rows(&scorer, &prepared.wild_type, &prepared.parsed, &options, &mut |_, _| {})
            }));
            let reply = match result {
                Ok(Ok(rows)) => Ok(rows
                    .into_iter()
                    .zip(mutations)
                    .map(|(row, mutation)| ScoreRow {
                        mutation,
                        mutant: row.mutant,
                        score: row.score,
                        sites: row.sites,
                        valid: row.valid,
                        reason: row.reason,
                    })
                    .collect()),
                Ok(Err(e)) => Err(error(e)),
                Err(payload) => Err(ApiError::panicked(payload.as_ref(), "the model's work panicked on this request")),
            };
            let _ = tx.send(reply);
        }),
    )?;
    Ok(rx)
}

/// A scoring failure as an answer: the user's (no LM head, a bad wild type) 422, the server's 500.
fn error(e: biotorch_score::Error) -> ApiError {
    match &e {
        biotorch_score::Error::Model(biotorch_models::Error::NoLmHead) => {
            ApiError::invalid("no_lm_head", format!("scoring needs a masked language model with its LM head: {e}"))
        }
        biotorch_score::Error::WildType(_) => ApiError::invalid("invalid_wild_type", e.to_string()),
        _ if e.is_bad_input() => ApiError::invalid("invalid_request", e.to_string()),
        _ => ApiError::internal(format!("scoring failed: {e}")),
    }
}
