//! The CLI's side of SD files and molecule grids: RDKit handed to the SD reader and writer of biotorch-io at start
//! ([`register_sdf_chemistry`]), and `--grid FILE.png` with `--grid-legend` and `--grid-max` (drawn by
//! `biotorch_design::draw_grid` from the table the command wrote).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use biotorch_chem::GridLayout;
use biotorch_design::{GridRequest, GRID_MAX_DEFAULT};
use clap::Args;

use crate::ctx::Ctx;

/// Lets every molecule reader read SD files (`.sdf`, `.sd`, `.mol`) and every table writer write `-o FILE.sdf`.
pub(crate) fn register_sdf_chemistry() {
    biotorch_io::register_chemistry(biotorch_io::SdfChemistry {
        to_smiles: |block| biotorch_chem::molblock_to_smiles(block).map_err(|e| e.reason().to_string()),
        to_molblock: |smiles| biotorch_chem::smiles_to_molblock(smiles).map_err(|e| e.reason().to_string()),
    });
}

/// `--grid`, `--grid-legend`, `--grid-max`, `--grid-per-row`.
#[derive(Debug, Args, Clone)]
pub(crate) struct GridArgs {
    /// Also draw the first molecules of the output as a grid picture (PNG): RDKit 2D depictions, a legend under
    /// each. Rows without a valid molecule are passed over.
    #[arg(long, value_name = "FILE.png")]
    pub(crate) grid: Option<PathBuf>,
    /// Columns of the output shown under each molecule, comma-separated, e.g. smiles,pic50,qed [default: id or name,
    /// then score or qed, those present].
    #[arg(long, value_name = "COL[,COL...]", value_delimiter = ',', requires = "grid")]
    pub(crate) grid_legend: Option<Vec<String>>,
    /// Draw at most N molecules: the first N valid rows of the output, in its order (the picture may be at most
    /// 32,767 pixels a side: 436 molecules at 4 per row).
    #[arg(long, value_name = "N", default_value_t = GRID_MAX_DEFAULT)]
    pub(crate) grid_max: usize,
    /// Molecules per row of the grid (each panel 300 x 300 pixels).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) grid_per_row: u32,
}

impl GridArgs {
    fn request(&self) -> GridRequest {
        GridRequest {
            legend: self.grid_legend.clone(),
            max: self.grid_max,
            layout: GridLayout { per_row: self.grid_per_row, ..GridLayout::default() },
        }
    }

    /// Checks `--grid` before the work (a `.png` name, a count in range).
    pub(crate) fn check(&self) -> Result<()> {
        match &self.grid {
            Some(picture) => Ok(biotorch_design::check_grid(picture, &self.request())?),
            None => Ok(()),
        }
    }

    /// Draws the grid of `table` (the output just written), when asked for.
    pub(crate) fn draw(&self, ctx: &Ctx, table: &Path) -> Result<()> {
        let Some(picture) = &self.grid else { return Ok(()) };
        let summary = biotorch_design::draw_grid(table, picture, &self.request())
            .with_context(|| format!("cannot draw {}", picture.display()))?;
        let (width, height) = summary.size;
        ctx.info(format!(
            "wrote {} ({} molecules, {width} x {height} pixels{})",
            picture.display(),
            summary.drawn,
            if summary.legend.is_empty() { String::new() } else { format!(", legend: {}", summary.legend.join(", ")) }
        ));
        Ok(())
    }
}
