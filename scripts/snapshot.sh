#!/usr/bin/env bash
# Runs the main cases of every engine (embed, finetune/predict/evaluate, generate/optimize/select, chem, merge,
# train) with one biotorch binary and keeps their outputs, so that a refactor can be checked for unchanged behaviour:
#
#   scripts/snapshot.sh BIN DIR          # e.g. a binary built before the change, then one built after it
#   .venv/bin/python scripts/snapshot_compare.py DIR_BEFORE DIR_AFTER
#
# Every command runs with --threads 2 on the CPU. Takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
BT=$(readlink -f "$1")
OUT=$2
rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(readlink -f "$OUT")
n=0
run() {
  n=$((n + 1))
  local name=$1
  shift
  printf '%s\t%s\n' "$name" "$*" >>"$OUT/commands.tsv"
  set +e
  "$BT" --threads 2 "$@" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr"
  echo $? >"$OUT/$name.rc"
  set -e
  printf '%-28s exit %s\n' "$name" "$(cat "$OUT/$name.rc")"
}
T=data/tasks
# ingest
run stats_protein stats data/demo/ecoli_proteins_500.faa -o "$OUT/stats_protein.parquet"
run stats_smiles stats data/demo/chembl_2000.csv -o "$OUT/stats_smiles.parquet"
run tokenize_esm tokenize data/demo/swissprot_100.fasta --tokenizer esm2 -o "$OUT/tokenize_esm.parquet"
run tokenize_smiles tokenize data/demo/chembl_2000.csv --tokenizer smiles -o "$OUT/tokenize_smiles.parquet"
# embed
run embed_demo embed data/demo/swissprot_100.fasta --model protein-small -o "$OUT/embed_demo.parquet" --device cpu
run embed_many embed data/demo/swissprot_100.fasta --model protein-small -o "$OUT/embed_many.parquet" --device cpu \
  --pooling mean,cls,per-token --layers -1,0,2
run embed_window embed data/demo/swissprot_100.fasta --model protein-small -o "$OUT/embed_window.parquet" --device cpu \
  --pooling mean,cls,per-token --long window --max-length 60 --batch-tokens 700
run embed_dna embed data/train/dm3_upstream2000_first4000.fa.gz --model dna-small -o "$OUT/embed_dna.parquet" \
  --device cpu --lookahead 64 --shard 0/40
run embed_shard0 embed data/demo/swissprot_100.fasta --model protein-small -o "$OUT/embed_parts/" --shard 0/2 --device cpu
run embed_shard1 embed data/demo/swissprot_100.fasta --model protein-small -o "$OUT/embed_parts/" --shard 1/2 --device cpu
run merge_embed merge "$OUT/embed_parts" -o "$OUT/merge_embed.parquet"
# chem, generate, select, optimize
run chem chem data/demo/chembl_2000.csv -o "$OUT/chem.parquet"
run generate generate --model smiles-small -n 600 --seed 0 --device cpu --filter "qed > 0.6 and not pains" \
  --train-set data/demo/chembl_2000.csv -o "$OUT/generate.parquet"
run generate_unique generate --model smiles-small -n 50 --seed 3 --device cpu --unique-valid \
  --filter "mw < 400" -o "$OUT/generate_unique.parquet"
run select select "$OUT/generate.parquet" --filter "qed > 0.5 and mw < 450" --unique -o "$OUT/select.parquet"
run select_chem select "$OUT/chem.parquet" --filter "0.3 < qed < 0.8 and not brenk" -o "$OUT/select_chem.parquet"
run optimize optimize --model smiles-small --objective "qed - 0.1*sa + 0.5*sim_ref" --similar-to "CC(=O)Nc1ccc(O)cc1" \
  --min-similarity 0.3 --filter "mw < 500" --steps 4 --batch-size 32 --seed 1 --device cpu -o "$OUT/optimize.parquet"
# heads
run finetune_mol finetune --model smiles-small --data $T/huuskonen_solubility_1282.csv --target logS --split column \
  --ensemble 2 --epochs 30 --baseline --device cpu -o "$OUT/head_mol"
run predict_mol predict --model "$OUT/head_mol" $T/huuskonen_solubility_1282.csv -o "$OUT/predict_mol.parquet" --device cpu
run evaluate_mol evaluate "$OUT/predict_mol.parquet" --model "$OUT/head_mol" -o "$OUT/evaluate_mol.json"
run finetune_prot finetune --model protein-small --data $T/amp_vs_uniprot_5200.csv --target label --folds 3 \
  --epochs 15 --long window --max-length 40 --device cpu -o "$OUT/head_prot"
run predict_prot predict --model "$OUT/head_prot" data/demo/swissprot_100.fasta -o "$OUT/predict_prot.parquet" --device cpu
run finetune_full finetune --model protein-small --data $T/amp_vs_uniprot_5200.csv --target label --mode full \
  --train-layers 1 --epochs 1 --max-length 30 --device cpu -o "$OUT/head_full"
run predict_full predict --model "$OUT/head_full" $T/amp_vs_uniprot_5200.csv -o "$OUT/predict_full.parquet" --device cpu
# train
run train_mlm train --objective mlm --arch esm2-tiny --train data/demo/swissprot_100.fasta --steps 6 --eval-every 3 \
  --device cpu -o "$OUT/train_mlm"
run train_clm train --objective clm --arch gpt-tiny --train data/demo/chembl_2000.csv --steps 6 --eval-every 3 \
  --device cpu -o "$OUT/train_clm"
echo "$n commands; outputs in $OUT"
