//! The molecule design engines of biotorch, callable without the CLI: typed requests in, rows out, progress through
//! iterators and event callbacks; nothing printed, no argument parsing, no files but those a request names.
//!
//! - [`Generator`]: a SMILES decoder with its vocabulary; [`Generator::draw`] decodes samples by sample number from
//!   the seeded stream.
//! - [`Scored`] / [`score_all`]: RDKit's verdict and description of a molecule (invalid SMILES keep RDKit's reason).
//! - [`ReferenceSet`]: a training set for novelty and nearest-neighbour similarity.
//! - [`Generator::generate`]: a [`GenerateRequest`] (n or a shard's block of sample numbers, sampling options, a
//!   filter, `unique_valid`) run as [`Round`]s of [`GeneratedRow`]s, with MOSES-style [`SetStats`].
//! - [`optimize()`]: augmented hill-climb reinforcement learning toward an [`Objective`], with a diversity filter,
//!   a similarity constraint (to a molecule or a series) and a hard [`Filter`], optionally through a [`Scaffold`];
//!   an [`Event`] per step; the best molecules and per-step metrics.
//! - [`Scaffold`] and [`Containment`]: decorating a scaffold with one or more attachment points, and checking that
//!   the molecules contain it.
//! - [`Selection`] and [`TableColumns`]: `select`'s row rule (valid, passes, first of its key) and the columns it
//!   reads from a table.
//! - [`Filter`], [`Objective`], [`Property`]: the expression language of biotorch-expr bound to the molecule
//!   properties.
//! - [`Heads`]: property-prediction heads (`--head NAME=DIR`) as run-time variables of filters and objectives.
//! - [`table`]: the rows as data frames, with the columns the CLI writes.
//!
//! ```no_run
//! use biotorch_design::{GenerateRequest, Generator, Filter};
//! use biotorch_models::SamplingOptions;
//!
//! let dir = std::path::Path::new("data/models/smiles-small");
//! let generator = Generator::load("smiles-small", dir, dir, tch::Device::Cpu)?;
//! let request = GenerateRequest {
//!     n: 100,
//!     shard: None,
//!     sampling: SamplingOptions { seed: 7, ..SamplingOptions::default() },
//!     filter: Some(Filter::parse("qed > 0.6 and not pains")?),
//!     unique_valid: false,
//!     max_samples: None,
//!     properties: true,
//!     scaffold: None,
//! };
//! for round in generator.generate(&request, None)? {
//!     for row in round?.rows {
//!         if row.passes == Some(true) {
//!             println!("{} {:.3}", row.smiles, row.molecule.props.map_or(0.0, |p| p.qed));
//!         }
//!     }
//! }
//! # Ok::<(), biotorch_design::Error>(())
//! ```

mod error;
mod generate;
mod generator;
mod grid;
mod heads;
mod optimize;
mod properties;
mod reference;
pub mod scaffold;
mod score;
mod select;
pub mod table;

pub use error::{Error, Result};
pub use generate::{
    block_start, score_samples, GenerateRequest, GeneratedRow, Generation, Round, SetStats, SetSummary, State, CHUNK,
    MAX_DIVERSITY, UNIQUE_AT,
};
pub use generator::{Drawn, Generator};
pub use grid::{check_grid, default_legend, draw_grid, GridRequest, GridSummary, GRID_MAX_DEFAULT};
pub use heads::{HeadArg, Heads};
pub use optimize::{
    hill_climb_loss, optimize, optimize_until, optimize_with_heads, Candidate, Event, OptimizeRequest, Optimized,
    ScaffoldCount, Specials, StepMetrics,
};
pub use properties::{variables, Filter, Matches, MoleculeValues, Objective, Property, Substructures};
pub use reference::{read_series, ReferenceSet, MAX_SIMILARITY_REFS, PLOT_SAMPLE};
pub use scaffold::{Containment, Scaffold};
pub use score::{score_all, Scored, FP_BITS, FP_RADIUS};
pub use select::{column_hint, Counts, Decision, FrameValues, RowValues, Selection, TableColumns, TopRows};
pub use table::property_columns;
