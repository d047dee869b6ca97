//! `POST /v1/embeddings` answered as an Arrow IPC stream (`Accept: application/vnd.apache.arrow.stream`): large
//! per-token results are slow to write and read as JSON. One row per sequence, in request order: `index` (u32),
//! `length` (u32, residues), `truncated` (bool), and the embedding as `list<float32>` (mean, cls) or one
//! `list<float32>` per residue token, `list<list<float32>>` (per_token): column `embedding`, or with several layers
//! one column per layer, `embedding_layer_N`, in the order asked. Written with polars' IPC stream writer (the
//! polars of biotorch-io; no other Arrow library).

use std::io::Cursor;

use axum::http::{header, HeaderMap};
use biotorch_io::polars::prelude::*;

use crate::api::{ApiError, EmbeddingsResponse, Vectors};

/// The media type of an Arrow IPC stream.
pub(crate) const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// Whether the client's `Accept` header asks for an Arrow IPC stream.
pub(crate) fn wanted(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|accept| {
        accept
            .split(',')
            .any(|part| part.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case(ARROW_STREAM))
    })
}

/// The values of one sequence and layer as a list cell: `list<float32>` or `list<list<float32>>`.
fn cell(vectors: &Vectors) -> Series {
    match vectors {
        Vectors::Pooled(v) => Series::new(PlSmallStr::EMPTY, v.as_slice()),
        Vectors::PerToken(rows) => Series::new(
            PlSmallStr::EMPTY,
            rows.iter().map(|v| Series::new(PlSmallStr::EMPTY, v.as_slice())).collect::<Vec<_>>(),
        ),
        Vectors::Layers(layers) => layers.first().map(cell).unwrap_or_default(),
    }
}

/// The embeddings of `response` as an Arrow IPC stream (see the module documentation).
pub(crate) fn embeddings(response: &EmbeddingsResponse) -> Result<Vec<u8>, ApiError> {
    let n = response.embeddings.len();
    let fail = |e: PolarsError| ApiError::internal(format!("cannot write the Arrow stream: {e}"));
    let as_u32 = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    let mut columns = vec![
        Column::new("index".into(), (0..n).map(as_u32).collect::<Vec<u32>>()),
        Column::new("length".into(), response.lengths.iter().copied().map(as_u32).collect::<Vec<u32>>()),
        Column::new("truncated".into(), response.truncated.as_slice()),
    ];
    let several = response.layers.len() > 1;
    for (k, layer) in response.layers.iter().enumerate() {
        let name = if several { format!("embedding_layer_{layer}") } else { "embedding".to_string() };
        let cells: Vec<Series> = response
            .embeddings
            .iter()
            .map(|row| match row {
                Vectors::Layers(layers) => layers.get(k).map(cell).unwrap_or_default(),
                one => cell(one),
            })
            .collect();
        columns.push(Column::new(name.into(), cells));
    }
    let mut frame = DataFrame::new(n, columns).map_err(fail)?;
    let mut bytes = Cursor::new(Vec::new());
    IpcStreamWriter::new(&mut bytes).finish(&mut frame).map_err(fail)?;
    Ok(bytes.into_inner())
}
