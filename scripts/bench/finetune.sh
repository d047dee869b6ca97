#!/usr/bin/env bash
# Property prediction with the bundled backbones on the three shipped tasks (data/tasks/): a frozen-encoder head and
# a fully fine-tuned one, each next to the classical baseline (ridge on Morgan fingerprints or k-mer frequencies)
# and the trivial one (mean / majority class) computed in the same run on the same held-out rows; time per epoch.
#
#   scripts/bench/finetune.sh            # all six runs (about 1 h on 2 busy CPU cores, most of it full fine-tuning)
#   ONLY=frozen scripts/bench/finetune.sh
#   ONLY=solubility SOL_MODEL=smiles-small scripts/bench/finetune.sh   # the solubility pair only, with another decoder
#
# Prints a Markdown table; every run's log, metrics.json and plots stay in $OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIOTORCH:-$(scripts/target-dir.sh)/release/biotorch}
OUT=${OUT:-out/bench/finetune}
THREADS=${THREADS:-2}
ONLY=${ONLY:-all}
# The SMILES decoder of the solubility runs: smiles-drug reads all 1,282 Huuskonen molecules, smiles-small 1,199.
SOL_MODEL=${SOL_MODEL:-smiles-drug}
mkdir -p "$OUT"

run() {
    local name=$1
    shift
    echo "== $name: biotorch finetune $*" >&2
    /usr/bin/time -f "%e s wall, %M KiB max RSS" "$BIN" --threads "$THREADS" finetune "$@" --baseline --device cpu --force \
        -o "$OUT/$name" 2>&1 | tee "$OUT/$name.log" >&2
}

SOL=(--model "$SOL_MODEL" --data data/tasks/huuskonen_solubility_1282.csv --target logS --split column --seed 0)
AMP=(--model protein-small --data data/tasks/amp_vs_uniprot_5200.csv --target label --seed 0)
AMR=(--model dna-small --data data/tasks/resfinder_amr_genes_by_class.csv.gz --target antibiotic_class --task classification --seed 0)

if [ "$ONLY" = solubility ]; then
    run solubility-frozen "${SOL[@]}"
    run solubility-full "${SOL[@]}" --mode full --epochs 15 --patience 4
fi
if [ "$ONLY" = all ] || [ "$ONLY" = frozen ]; then
    run solubility-frozen "${SOL[@]}"
    run amp-frozen "${AMP[@]}"
    run amr-frozen "${AMR[@]}"
fi
if [ "$ONLY" = all ] || [ "$ONLY" = full ]; then
    run solubility-full "${SOL[@]}" --mode full --epochs 15 --patience 4
    run amp-full "${AMP[@]}" --mode full --epochs 6 --patience 2
    run amr-full "${AMR[@]}" --mode full --epochs 6 --patience 2
fi

python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
print("| task | model | n | " + " | ".join(["metric 1", "metric 2", "metric 3", "metric 4"]) + " | s/epoch |")
print("|---|---|---|---|---|---|---|---|")
for name in ["solubility-frozen", "solubility-full", "amp-frozen", "amp-full", "amr-frozen", "amr-full"]:
    path = os.path.join(out, name, "metrics.json")
    if not os.path.exists(path):
        continue
    m = json.load(open(path))
    for target, t in m["targets"].items():
        keys = ["rmse", "mae", "r2", "spearman"] if t["task"] == "regression" else ["auroc", "auprc", "accuracy", "f1"]
        for model in ["head", "ridge", "trivial"]:
            if model not in t:
                continue
            v = t[model]["metrics"]
            spe = f'{m["seconds_per_epoch"]:.3f}' if model == "head" else ""
            cells = " | ".join(f"{k} {v[k]:.3f}" if v[k] is not None else f"{k} -" for k in keys)
            print(f"| {name} ({target}) | {t[model]['model']} | {v['n']} | {cells} | {spe} |")
PY
