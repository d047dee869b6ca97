//! End-to-end tests of the `biotorch` binary on real files: its tables (schema and values), exit codes and messages,
//! against the pinned oracles where there is one. One test binary with a module per area, so the suite links once.

mod design_heads;
mod docs;
mod embed;
mod figures;
mod finetune;
mod formats;
mod guard;
mod ingest;
mod molecules;
mod reliability;
mod safety;
mod score;
mod serve;
mod shard;
mod substructures;
mod train;
mod workflows;
