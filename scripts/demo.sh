#!/usr/bin/env bash
# The main job on shipped data (run by `make demo` after setup and build).
set -euo pipefail
cd "$(dirname "$0")/.."
BT=${BIOTORCH:-$(scripts/target-dir.sh)/release/biotorch}
OUT=out/demo
mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

step "Protein FASTA statistics" "$BT" stats data/demo/ecoli_proteins_500.faa -o $OUT/protein_stats.parquet --plot $OUT/protein_lengths.png
step "ESM-2 tokens for Swiss-Prot entries" "$BT" tokenize data/demo/swissprot_100.fasta --tokenizer esm2 -o $OUT/protein_tokens.parquet
step "Protein embeddings with the bundled protein-small model, PCA coloured by location" "$BT" embed data/demo/swissprot_100.fasta --model protein-small -o $OUT/protein_embeddings.parquet --plot $OUT/protein_pca.png --labels data/demo/swissprot_100_locations.csv --label-column location
step "Molecule validity (RDKit)" "$BT" stats data/demo/chembl_2000.csv -o $OUT/molecule_stats.parquet --plot $OUT/molecule_heavy_atoms.png
step "SMILES tokens (vocabulary built from the data)" "$BT" tokenize data/demo/chembl_2000.csv --tokenizer smiles -o $OUT/smiles_tokens.parquet
step "Molecule properties (RDKit: descriptors, QED, SA, scaffolds, alerts)" "$BT" chem data/demo/chembl_2000.csv -o $OUT/molecule_properties.parquet
step "1,000 new molecules sampled from the bundled smiles-small model, each checked and scored with RDKit" "$BT" generate --model smiles-small -n 1000 --seed 0 --filter "qed > 0.6 and not pains" -o $OUT/generated.parquet --plot $OUT/generated_properties.png

printf '\n\033[1mOutputs in %s:\033[0m\n' "$OUT"
ls -1 "$OUT" | sed "s|^|  $OUT/|"
