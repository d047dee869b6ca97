#!/usr/bin/env bash
# Hostile-user reliability probe of the biotorch CLI.
#
#   scripts/probe.sh PATH/TO/biotorch [NAME_REGEX]
#
# Runs one-line cases (name, class, command[, check]) in a temporary directory, each in a folder of its own, and
# prints one line per case: PASS/FAIL, the exit code, the first line of stderr (or the probe's own reason). Exits 1
# if any case fails. Classes:
#   ok                exit 0; the optional check (a bash command run in the case folder) must succeed
#   user              exit 2 with a message (the optional check is an extended regex the message must match)
#   refuse-no-output  exit 2 with a message, and the path given as check must not exist afterwards
#   ok-or-user        either of the first two (for "works or clearly refuses"); the check applies to exit 0
# Every case also fails on exit 1, 101 (panic), 124 (timeout), a death by signal, a panic message or traceback on
# stderr, or a hidden temporary file (.*.tmp*) left in its folder.
# Optional: PY=python-with-pyarrow (default: the project's .venv) to read the Parquet outputs back; without it the
# row counts are not checked, only the Parquet magic bytes. CASE_TIMEOUT (s, default 150) bounds each case.
set -u
[ $# -ge 1 ] || { echo "usage: $0 BIOTORCH [NAME_REGEX]" >&2; exit 2; }
B=$(readlink -f "$1"); ONLY=${2:-}
[ -x "$B" ] || { echo "$0: $1 is not an executable" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
"$PY" -c 'import pyarrow.parquet' 2>/dev/null || PY=
T=$(mktemp -d "${TMPDIR:-/tmp}/biotorch-probe.XXXXXX")
F=$T/f
mkdir -p "$F" "$T/c" "$T/log"
export B F PY ROOT T
MODELS=$ROOT/data/models DEMO=$ROOT/data/demo
export MODELS DEMO

# ---------------------------------------------------------------- helpers (exported: cases run in bash -c)
bt() { "$B" "$@" --threads 1; }
why() { echo "probe: $*" >&2; return 1; }
# rows FILE N: FILE is a complete Parquet file with N rows
rows() {
  [ -f "$1" ] || why "$1 does not exist" || return 1
  [ "$(head -c4 "$1")" = PAR1 ] && [ "$(tail -c4 "$1")" = PAR1 ] || why "$1 is not a complete Parquet file" || return 1
  [ -z "$PY" ] && return 0
  local n; n=$("$PY" -c 'import sys,pyarrow.parquet as pq; print(pq.read_table(sys.argv[1]).num_rows)' "$1" 2>&1) \
    || why "$1 does not read: $n" || return 1
  [ "$n" = "$2" ] || why "$1 has $n rows, expected $2"
}
# pyq FILE EXPR: a Python expression over t (the pyarrow table) must be true (skipped without pyarrow)
pyq() {
  [ -z "$PY" ] && return 0
  local r; r=$("$PY" -c 'import sys,pyarrow.parquet as pq; t=pq.read_table(sys.argv[1]); print(bool(eval(sys.argv[2])))' "$1" "$2" 2>&1)
  [ "$r" = True ] || why "$1: not ($2): $r"
}
tmps() { find . \( -name '.*.tmp*' -o -name '*.tmp' \) -print 2>/dev/null; }
# interrupt SIG WAIT OUT CMD...: start CMD, send SIG once a hidden temporary file exists (WAIT=tmp, at most 40 s)
# or after WAIT seconds, then check: the run did not finish first, it did not crash, no temporary file is left and
# OUT (a file, or "-" for none) does not exist
interrupt() {
  local sig=$1 w=$2 out=$3; shift 3
  [ "$1" = bt ] && { shift; set -- "$B" "$@" --threads 1; }
  # a background job of a non-interactive shell starts with SIGINT ignored; a terminal's Ctrl-C does not
  env --default-signal=INT true 2>/dev/null && set -- env --default-signal=INT "$@"
  # a simple command started with & is the process itself (a shell function would be a subshell, deaf to kill)
  if [ -n "${IN-}" ]; then "$@" <"$IN" >int.out 2>int.err & else "$@" >int.out 2>int.err & fi
  local p=$! i
  if [ "$w" = tmp ]; then
    for i in $(seq 160); do sleep 0.25; [ -n "$(tmps)" ] && break; kill -0 $p 2>/dev/null || break; done
    [ -n "$(tmps)" ] || echo "probe: note: no temporary file seen before the signal" >&2
  else sleep "$w"; fi
  kill -0 $p 2>/dev/null || { wait $p; why "the run ended (exit $?) before the signal; make the input larger"; return 1; }
  kill -"$sig" $p; wait $p; local rc=$?
  echo "probe: note: SIG$sig -> exit $rc; stderr: $(head -c 300 int.err | tr '\n' ' ')" >&2
  grep -Eq 'panicked|RUST_BACKTRACE|Traceback' int.err && { why "panic after SIG$sig"; return 1; }
  [ "$rc" != 0 ] || why "exit 0 after SIG$sig" || return 1
  [ "$rc" != 101 ] || why "exit 101 after SIG$sig" || return 1
  local left; left=$(tmps)
  [ -z "$left" ] || why "temporary files left after SIG$sig: $left" || return 1
  if [ "$out" != - ] && [ -e "$out" ]; then why "$out exists after SIG$sig"; return 1; fi
  return 0
}
# train_incomplete DIR: DIR does not claim a finished run
train_incomplete() {
  [ ! -e "$1/biotorch.json" ] && return 0
  grep -Eq '"finished": *false' "$1/biotorch.json" || why "$1/biotorch.json says finished after an interrupted run"
}
train_done() {
  grep -Eq '"finished": *true' "$1/biotorch.json" || why "$1/biotorch.json does not say finished" || return 1
  rows "$1/metrics.parquet" "$2"
}
ckpt_step() { grep -o '"step": *[0-9]*' "$1/checkpoint/trainer_state.json" 2>/dev/null | head -1 | grep -o '[0-9]*$'; }
# concurrent trains into one folder: the second must be refused (its exit code is this function's)
conc_train() {
  "$B" train --objective mlm --arch esm2-tiny --train "$F/big.fasta" -o tr --steps 400 -q --threads 1 2>first.err & local p=$! i
  for i in $(seq 80); do [ -e tr/.biotorch.lock ] && break; sleep 0.25; done
  sleep 1
  kill -0 $p 2>/dev/null || { why "the first run ended before the second started"; return 1; }
  bt train --objective mlm --arch esm2-tiny --train "$F/big.fasta" -o tr --steps 400 "$@"; local rc=$?
  kill -TERM $p; wait $p
  return $rc
}
# conc2 OUT CHECK CMD...: run CMD twice at once; both must exit 0 and CHECK must hold afterwards
conc2() {
  local out=$1 chk=$2; shift 2
  "$@" 2>a.err & local p1=$!
  "$@" 2>b.err & local p2=$!
  wait $p1; local r1=$?; wait $p2; local r2=$?
  cat a.err b.err >&2
  [ $r1 = 0 ] && [ $r2 = 0 ] || why "exit codes $r1 and $r2" || return 1
  eval "$chk"
}
export -f bt why rows pyq tmps interrupt train_incomplete train_done ckpt_step conc_train conc2

# ---------------------------------------------------------------- fixtures
cd "$F" || exit 1
printf '>a desc one\nMKTAYIAKQRQISFVKSHFSRQ\n>b\nMSTNPKPQRKTKRNTNRRPQDVKFPGG\n>c\nMAHHHHHHVDDDDK\n>d\nMLSRAVCGTSRQLAPALGYLGSRQ\n' > tiny.fa
printf '>a desc one\r\nMKTAYIAKQR\r\nQISFVKSHFSRQ\r\n>b\r\nMSTNPKPQRKTKRNTNRRPQDVKFPGG\r\n' > crlf.fa
printf 'smiles,id\r\nCCO,e1\r\nc1ccccc1O,e2\r\nCC(=O)Nc1ccc(O)cc1,e3\r\n' > crlf.csv
printf 'smiles,id\nCCO,m1\nc1ccccc1O,m2\nCC(=O)Nc1ccc(O)cc1,m3\nC1CC,bad\n' > tiny.csv
printf 'CCO m1\nc1ccccc1O m2\nCC(=O)Nc1ccc(O)cc1 m3\n' > tiny.smi
for i in $(seq 10); do cat "$DEMO/swissprot_100.fasta"; done | awk '/^>/{n++; sub(/^>[^ ]+/, ">r" n)}1' > big.fasta
(head -1 "$DEMO/chembl_2000.csv"; for i in 1 2; do tail -n +2 "$DEMO/chembl_2000.csv"; done) > chem4k.csv
(head -1 "$DEMO/chembl_2000.csv"; for i in 1 2 3 4 5; do tail -n +2 "$DEMO/chembl_2000.csv"; done | head -8300) > chem8k.csv
: > empty.fa
: > empty.csv
printf '\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\xff\xfe\x00\x01\x02\x03\x04' > junk.fa
cp junk.fa junk.smi
printf 'MKTAYIAKQR\nMSTNPKPQRK\n' > nohdr.fa
printf 'id,foo\n1,CCO\n2,CCN\n' > nosmiles.csv
printf '>a\nMKTAYIAKQR\n' > onerec.fa; gzip -c big.fasta | head -c 20000 > trunc.fa.gz
printf '>a\xff\xfe bad header\nMKTAYIAKQR\n' > nonutf8hdr.fa
printf '>a\nMKT\xffAYIAKQR\n' > nonutf8seq.fa
printf 'smiles,id\nCC\xffO,x1\nCCO,x2\n' > nonutf8.csv
mkdir -p adir
{ printf 'smiles,id\n'; printf 'C%.0s' $(seq 20000); printf ',huge\nCCO,small\n'; } > huge.csv
{ printf 'smiles,id\n'; printf 'C(%.0s' $(seq 600); printf 'C'; printf ')%.0s' $(seq 600); printf ',deep\nCCO,small\n'; } > deep.csv
"$B" --threads 1 -q chem tiny.csv -o good.parquet
head -c $(( $(stat -c %s good.parquet) / 2 )) good.parquet > trunc.parquet
# 1,000,000 residues in one record, and 10,000 tiny records
{ echo '>giant'; head -c 1000000 /dev/zero | tr '\0' 'A' | sed 's/AAAAAAAAAAAAAAAAAAAA/MKTAYIAKQRQISFVKSHFS/g' | fold -w 100; echo; } > giant.fa
awk 'BEGIN{a="ACDEFGHIKLMNPQRSTVWY"; for(i=0;i<10000;i++) printf ">s%d\nMK%sT\n", i, substr(a, i%20+1, 1)}' > many.fa
# corrupt model folders (copies of protein-small)
cp -r "$MODELS/dna-small" m_novocab_dna; rm m_novocab_dna/vocab.txt
for m in m_trunc m_noconfig m_badjson m_emptyvocab m_novocab m_badshape; do cp -r "$MODELS/protein-small" $m; done
head -c 1000 "$MODELS/protein-small/model.safetensors" > m_trunc/model.safetensors
rm m_noconfig/config.json
echo 'this is { not json' > m_badjson/config.json
: > m_emptyvocab/vocab.txt
rm m_novocab/vocab.txt
sed -i 's/"hidden_size": *128/"hidden_size": 96/' m_badshape/config.json
# a head (finetune, 2 epochs) and broken copies
awk '/^>/{if(s)print s","(n%7);n++;s=""; next}{s=s$0}END{print s","(n%7)}' "$DEMO/swissprot_100.fasta" \
  | sed '1i sequence,y' > labels.csv
"$B" --threads 1 -q finetune --model protein-small --data labels.csv --target y --epochs 2 -o head >/dev/null 2>head.err \
  || echo "probe: fixture: finetune failed: $(head -3 head.err)" >&2
for h in h_badjson h_nosafet h_trunc; do cp -r head $h; done
echo '{"broken": ' > h_badjson/head.json
rm -f h_nosafet/head.safetensors
[ -f head/head.safetensors ] && head -c 500 head/head.safetensors > h_trunc/head.safetensors
# a dataset directory with both parts, and one with a part missing
"$B" --threads 1 -q embed tiny.fa --model protein-small --shard 0/2 -o ds/ && "$B" --threads 1 -q embed tiny.fa --model protein-small --shard 1/2 -o ds/
mkdir -p ds_missing && cp ds/part-00000-of-00002.parquet ds_missing/
# a finished tiny training run to continue from
"$B" --threads 1 -q train --objective mlm --arch esm2-tiny --train tiny.fa --steps 2 -o trained >/dev/null 2>&1
cd "$T" || exit 1

# ---------------------------------------------------------------- the runner
pass=0 fail=0 FAILED=()
c() {
  local name=$1 class=$2 cmd=$3 chk=${4-}
  [ -n "$ONLY" ] && ! [[ $name =~ $ONLY ]] && return
  local d=$T/c/$name e=$T/log/$name.err o=$T/log/$name.out chkerr=$T/log/$name.chk
  mkdir -p "$d"
  ( cd "$d" && timeout -k 5 "${CASE_TIMEOUT:-150}" bash -c "$cmd" ) >"$o" 2>"$e"
  local rc=$? bad=""
  : >"$chkerr"
  case $rc in
    1) bad="exit 1 (runtime failure)";; 101) bad="exit 101 (panic)";; 124|137) bad="timed out";;
    13[0-9]|14[0-9]) [ "$class" = user ] || [ "$class" = refuse-no-output ] || bad="killed by a signal (exit $rc)";;
  esac
  grep -Eq 'panicked at|RUST_BACKTRACE|Traceback \(most recent|stack backtrace|Segmentation fault|core dumped' "$e" \
    && bad="${bad:+$bad; }panic or traceback on stderr"
  local left; left=$(cd "$d" && tmps | head -3 | tr '\n' ' ')
  [ -n "$left" ] && bad="${bad:+$bad; }temporary files left: $left"
  if [ -z "$bad" ]; then
    local okpath=0
    case $class in
      ok) okpath=1;;
      ok-or-user) [ $rc = 0 ] && okpath=1; [ $rc = 2 ] && chk="";;
    esac
    if [ $okpath = 1 ]; then
      if [ $rc != 0 ]; then bad="exit $rc, expected 0"
      elif [ -n "$chk" ] && ! ( cd "$d" && bash -c "$chk" ) 2>"$chkerr" >/dev/null; then
        bad="check failed: $(grep -m1 . "$chkerr" || echo "$chk")"
      fi
    else
      if [ $rc != 2 ]; then bad="exit $rc, expected 2"
      elif ! grep -q . "$e"; then bad="no message on stderr"
      elif [ "$class" = refuse-no-output ]; then
        [ -n "$chk" ] && [ -e "$d/$chk" ] && bad="refused but wrote $chk"
      elif [ -n "$chk" ] && ! grep -Eiq -- "$chk" "$e"; then bad="message does not match /$chk/"
      fi
    fi
  fi
  local first; first=$(grep -m1 '^probe: [^n]' "$e" || grep -m1 -v '^probe: note' "$e" || true)
  first=${first:0:220}
  if [ -z "$bad" ]; then
    pass=$((pass + 1)); printf 'PASS %-28s rc=%-3s %s\n' "$name" "$rc" "$first"
  else
    fail=$((fail + 1)); FAILED+=("$name")
    printf 'FAIL %-28s rc=%-3s %s\n     why: %s\n     cmd: %s\n' "$name" "$rc" "$first" "$bad" "$cmd"
  fi
}

# ---------------------------------------------------------------- 1. interruption
c int-embed-sigint ok 'interrupt INT tmp e.parquet bt embed $F/big.fasta --model protein-small -o e.parquet && bt embed $F/big.fasta --model protein-small -o e.parquet --resume' 'rows e.parquet 1000'
c int-embed-sigterm ok 'interrupt TERM tmp e.parquet bt embed $F/big.fasta --model protein-small -o e.parquet && bt embed $F/big.fasta --model protein-small -o e.parquet --resume' 'rows e.parquet 1000'
c int-embed-shard-dir ok 'interrupt INT tmp ds/part-00000-of-00002.parquet bt embed $F/big.fasta --model protein-small --lookahead 64 --shard 0/2 -o ds/ && bt embed $F/big.fasta --model protein-small --lookahead 64 --shard 0/2 -o ds/ --resume' 'rows ds/part-00000-of-00002.parquet 500'
c int-embed-early-sigint ok 'interrupt INT 0.3 e.parquet bt embed $F/big.fasta --model protein-small -o e.parquet'
c int-embed-stdin-sigint ok 'IN=$F/big.fasta interrupt INT tmp e.parquet bt embed - --model protein-small -o e.parquet'
c int-chem-sigint ok 'interrupt INT 3 c.parquet bt chem $F/chem4k.csv -o c.parquet && bt chem $F/chem4k.csv -o c.parquet --resume' 'rows c.parquet 4000'
c int-chem-sigterm-tmp ok 'interrupt TERM tmp c.parquet bt chem $F/chem8k.csv -o c.parquet'
c int-train-sigint ok 'interrupt INT 7 - bt train --objective mlm --arch esm2-tiny --train $F/big.fasta -o tr --steps 150 --save-every 10 && train_incomplete tr && s=$(ckpt_step tr) && [ "${s:-0}" -gt 0 ] && echo "probe: note: checkpoint at step $s" >&2 && bt train --objective mlm --train $F/big.fasta -o tr --resume' 'train_done tr 151'
c int-train-sigterm ok 'interrupt TERM 7 - bt train --objective mlm --arch esm2-tiny --train $F/big.fasta -o tr --steps 150 --save-every 10 && train_incomplete tr && bt train --objective mlm -o tr --resume' 'train_done tr 151'
c int-train-double-sigint ok 'env --default-signal=INT $B train --threads 1 --objective mlm --arch esm2-tiny --train $F/big.fasta -o tr --steps 150 --save-every 1 2>x.err & p=$!; sleep 7; kill -INT $p; sleep 0.05; kill -INT $p; wait $p; echo "probe: note: exit $?" >&2; [ -z "$(tmps)" ] && train_incomplete tr && bt train --objective mlm -o tr --resume' 'train_done tr 151'
c int-nohup-sighup ok 'nohup $B embed --threads 1 $F/big.fasta --model protein-small -o e.parquet >/dev/null 2>&1 & p=$!; sleep 3; kill -HUP $p; wait $p' 'rows e.parquet 1000'
c int-train-resume-elsewhere user 'bt train --objective mlm -o nowhere --resume' 'nowhere|checkpoint'

# ---------------------------------------------------------------- 2. corrupt models
c model-trunc-weights user 'bt embed $F/tiny.fa --model $F/m_trunc -o e.parquet' 'model.safetensors'
c model-trunc-weights-noout refuse-no-output 'bt embed $F/tiny.fa --model $F/m_trunc -o e.parquet' e.parquet
c model-no-config user 'bt embed $F/tiny.fa --model $F/m_noconfig -o e.parquet' 'config.json'
c model-config-not-json user 'bt embed $F/tiny.fa --model $F/m_badjson -o e.parquet' 'config.json'
c model-vocab-empty user 'bt embed $F/tiny.fa --model $F/m_emptyvocab -o e.parquet' 'vocab.txt'
c model-vocab-missing ok-or-user 'bt embed $F/tiny.fa --model $F/m_novocab -o e.parquet' 'rows e.parquet 4'
c model-vocab-missing-dna user 'printf ">x\nACGTACGTACGTAAACCCGGGTTT\n" > d.fa && bt embed d.fa --model $F/m_novocab_dna -o e.parquet' 'vocab'
c model-shape-mismatch user 'bt embed $F/tiny.fa --model $F/m_badshape -o e.parquet' 'hidden|shape|size|config'
c model-trunc-train-init user 'bt train --objective mlm --init $F/m_trunc --train $F/tiny.fa -o tr --steps 1' 'model.safetensors'
c model-trunc-finetune user 'bt finetune --model $F/m_trunc --data $F/labels.csv --target y --epochs 1 -o h' 'model.safetensors'
c model-badjson-generate user 'cp -r $MODELS/smiles-small s && echo "{" > s/config.json && bt generate --model s -n 4 -o g.parquet' 'config.json'
c model-vocab-json-broken user 'cp -r $MODELS/smiles-small s && echo "[1,2" > s/smiles_vocab.json && bt generate --model s -n 4 -o g.parquet' 'smiles_vocab.json'
c head-json-broken user 'bt predict --model $F/h_badjson $F/tiny.fa -o p.parquet' 'head.json'
c head-safetensors-missing user 'bt predict --model $F/h_nosafet $F/tiny.fa -o p.parquet' 'head.safetensors'
c head-safetensors-trunc user 'bt predict --model $F/h_trunc $F/tiny.fa -o p.parquet' 'head.safetensors'
c head-is-a-model user 'bt predict --model protein-small $F/tiny.fa -o p.parquet' 'head.json|head'
c head-evaluate-broken user 'bt predict --model $F/head $F/labels.csv -o p.parquet -q && bt evaluate p.parquet --model $F/h_badjson' 'head.json'
c head-good-predict ok 'bt predict --model $F/head $F/tiny.fa -o p.parquet' 'rows p.parquet 4'

# ---------------------------------------------------------------- 3. bad inputs
c in-empty-fasta user 'bt embed $F/empty.fa --model protein-small -o e.parquet' 'empty'
c in-empty-fasta-stats user 'bt stats $F/empty.fa' 'empty'
c in-empty-csv user 'bt chem $F/empty.csv -o c.parquet' 'empty.csv'
c in-junk-fasta user 'bt embed $F/junk.fa --model protein-small -o e.parquet' 'junk.fa'
c in-junk-smi user 'bt chem $F/junk.smi -o c.parquet' 'junk.smi'
c in-fasta-no-header user 'bt stats $F/nohdr.fa' 'nohdr.fa'
c in-csv-no-smiles-col user 'bt chem $F/nosmiles.csv -o c.parquet' 'smiles'
c in-csv-no-smiles-noout refuse-no-output 'bt chem $F/nosmiles.csv -o c.parquet' c.parquet
c in-parquet-truncated user 'bt chem $F/trunc.parquet -o c.parquet' 'trunc.parquet'
c in-parquet-trunc-predict user 'bt predict --model $F/head $F/trunc.parquet -o p.parquet' 'trunc.parquet'
c in-directory-embed user 'bt embed $F/adir --model protein-small -o e.parquet' 'adir'
c in-directory-chem user 'bt chem $F/adir -o c.parquet' 'adir'
c in-missing-file user 'bt stats $F/nope.fa' 'nope.fa'
c in-gz-truncated user 'bt embed $F/trunc.fa.gz --model protein-small -o e.parquet' 'trunc.fa.gz'
c in-gz-truncated-noout refuse-no-output 'bt stats $F/trunc.fa.gz -o s.parquet' s.parquet
c in-nonutf8-header user 'bt stats $F/nonutf8hdr.fa' 'UTF-8|utf8'
c in-nonutf8-seq user 'bt embed $F/nonutf8seq.fa --model protein-small -o e.parquet' 'nonutf8seq.fa'
c in-nonutf8-csv ok-or-user 'bt chem $F/nonutf8.csv -o c.parquet' 'rows c.parquet 2'
c in-huge-smiles-chem ok 'timeout 20 $B --threads 1 chem $F/huge.csv -o c.parquet' 'rows c.parquet 2 && pyq c.parquet "t.column(\"valid\").to_pylist()==[False,True] and \"too large\" in t.column(\"reason\")[0].as_py()"'
c in-huge-smiles-stats ok 'timeout 20 $B --threads 1 stats $F/huge.csv -o s.parquet' 'rows s.parquet 2 && pyq s.parquet "t.column(\"valid\").to_pylist()==[False,True]"'
c in-deep-branches-chem ok 'timeout 20 $B --threads 1 chem $F/deep.csv -o c.parquet' 'rows c.parquet 2 && pyq c.parquet "t.column(\"valid\").to_pylist()==[False,True]"'
c in-huge-smiles-tokenize ok-or-user 'timeout 20 $B --threads 1 tokenize $F/huge.csv --tokenizer smiles -o t.parquet' 'rows t.parquet 2'
c in-crlf-fasta ok 'bt embed $F/crlf.fa --model protein-small -o e.parquet' 'rows e.parquet 2 && pyq e.parquet "t.column(\"length\").to_pylist()==[22,27] and t.column(\"description\")[0].as_py()==\"desc one\""'
c in-crlf-csv ok 'bt chem $F/crlf.csv -o c.parquet' 'rows c.parquet 3 && pyq c.parquet "all(t.column(\"valid\").to_pylist()) and t.column(\"id\").to_pylist()==[\"e1\",\"e2\",\"e3\"]"'
c in-crlf-stats ok 'bt stats $F/crlf.fa -o s.parquet' 'rows s.parquet 2 && pyq s.parquet "all(t.column(\"valid\").to_pylist())"'
c in-stdin-fasta ok 'bt embed - --model protein-small -o e.parquet < $F/tiny.fa' 'rows e.parquet 4'
c in-stdin-empty user 'bt embed - --model protein-small -o e.parquet < /dev/null' 'empty|stdin|standard input'
c in-fasta-as-smiles user 'bt chem $F/tiny.fa -o c.parquet' 'tiny.fa|FASTA|SMILES'
c in-smiles-as-embed user 'bt embed $F/tiny.csv --model protein-small -o e.parquet' 'tiny.csv|FASTA|SMILES'
c in-dna-to-protein-model ok-or-user 'printf ">x\nACGTACGTAC\n" > d.fa && bt embed d.fa --model protein-small -o e.parquet' 'rows e.parquet 1'
c in-protein-to-dna-model user 'bt embed $F/tiny.fa --model dna-small -o e.parquet' 'tiny.fa|DNA|alphabet'
c in-dup-ids user 'printf ">a\nMKT\n>a\nMKV\n" > d.fa && bt embed d.fa --model protein-small -o e.parquet' 'duplicate'
c in-train-empty user 'bt train --objective mlm --arch esm2-tiny --train $F/empty.fa -o tr --steps 1' 'empty'
c in-train-one-record ok-or-user 'bt train --objective mlm --arch esm2-tiny --train $F/onerec.fa -o tr --steps 1' 'train_done tr 2'
c in-finetune-no-target user 'bt finetune --model protein-small --data $F/labels.csv --target nope --epochs 1 -o h' 'nope'

# ---------------------------------------------------------------- 4. bad options
c opt-threads-0 user '$B --threads 0 embed $F/tiny.fa --model protein-small -o e.parquet' 'threads'
c opt-threads-neg user '$B embed --threads -1 $F/tiny.fa --model protein-small -o e.parquet' 'threads'
c opt-device-cuda7 user 'bt embed $F/tiny.fa --model protein-small --device cuda:7 -o e.parquet' 'cuda'
c opt-device-cuda7-train user 'bt train --objective mlm --arch esm2-tiny --train $F/tiny.fa --device cuda:7 -o tr --steps 1' 'cuda'
c opt-device-bogus user 'bt embed $F/tiny.fa --model protein-small --device tpu -o e.parquet' 'device|tpu'
c opt-batch-tokens-0 user 'bt embed $F/tiny.fa --model protein-small --batch-tokens 0 -o e.parquet' 'batch-tokens'
c opt-batch-tokens-0-train user 'bt train --objective mlm --arch esm2-tiny --train $F/tiny.fa --batch-tokens 0 -o tr --steps 1' 'batch-tokens'
c opt-lookahead-0 user 'bt embed $F/tiny.fa --model protein-small --lookahead 0 -o e.parquet' 'lookahead'
c opt-max-length-0 user 'bt embed $F/tiny.fa --model protein-small --max-length 0 -o e.parquet' 'max-length'
c opt-epochs-0 user 'bt train --objective mlm --arch esm2-tiny --train $F/tiny.fa --epochs 0 -o tr' 'epochs'
c opt-steps-0 user 'bt train --objective mlm --arch esm2-tiny --train $F/tiny.fa --steps 0 -o tr' 'steps'
c opt-valid-fraction-2 user 'bt train --objective mlm --arch esm2-tiny --train $F/tiny.fa --valid-fraction 2 -o tr --steps 1' 'valid-fraction'
c opt-accumulate-0 user 'bt train --objective mlm --arch esm2-tiny --train $F/tiny.fa --accumulate 0 -o tr --steps 1' 'accumulate'
c opt-lr-nan user 'bt train --objective mlm --arch esm2-tiny --train $F/tiny.fa --lr nan -o tr --steps 1' 'lr|learning rate'
c opt-finetune-epochs-0 user 'bt finetune --model protein-small --data $F/labels.csv --target y --epochs 0 -o h' 'epochs'
c opt-out-missing-folder user 'bt embed $F/tiny.fa --model protein-small -o no/such/dir/e.parquet' 'no/such/dir'
c opt-out-csv ok-or-user 'bt embed $F/tiny.fa --model protein-small -o e.csv' '[ "$(head -c4 e.csv)" != PAR1 ] && [ "$(wc -l < e.csv)" -eq 5 ] || why "e.csv is not a 4-row CSV: $(head -c 60 e.csv | tr -c "[:print:]" .)"'
c opt-out-csv-early ok-or-user 's=$SECONDS; bt embed $F/big.fasta --model protein-small -o e.csv; rc=$?; [ $rc = 2 ] && [ $((SECONDS - s)) -gt 3 ] && { why "refused only after $((SECONDS - s)) s of work"; exit 1; }; exit $rc' '[ "$(wc -l < e.csv)" -eq 1001 ] || why "e.csv does not have 1000 rows"'
c opt-out-csv-chem ok 'bt chem $F/tiny.csv -o c.csv' '[ "$(head -c4 c.csv)" != PAR1 ] && [ "$(wc -l < c.csv)" -eq 5 ] || why "c.csv is not a 4-row CSV: $(head -c 60 c.csv | tr -c "[:print:]" .)"'
c opt-out-stdout ok-or-user 'bt chem $F/tiny.csv -o - > out.bin' '[ -s out.bin ] && [ ! -e ./- ] || why "exit 0 but nothing on stdout (or a file named -)"'
c opt-plot-pdf refuse-no-output 'bt embed $F/tiny.fa --model protein-small -o e.parquet --plot x.pdf' e.parquet
c opt-plot-pdf-stats user 'bt stats $F/tiny.fa -o s.parquet --plot x.pdf' 'pdf|plot'
c opt-shard-3of2 user 'bt embed $F/tiny.fa --model protein-small --shard 3/2 -o e.parquet' 'shard'
c opt-shard-0of0 user 'bt chem $F/tiny.csv --shard 0/0 -o c.parquet' 'shard'
c opt-shard-garbage user 'bt stats $F/tiny.fa --shard a/b -o s.parquet' 'shard'
c opt-model-missing-path user 'bt embed $F/tiny.fa --model runs/nope -o e.parquet' 'runs/nope'
c opt-model-typo user 'bt embed $F/tiny.fa --model protein-smal -o e.parquet' 'protein-small'
c opt-model-is-file user 'bt embed $F/tiny.fa --model $F/tiny.fa -o e.parquet' 'tiny.fa'
c opt-model-smiles-for-embed user 'bt embed $F/tiny.fa --model smiles-small -o e.parquet' 'smiles-small|esm|encoder'
c opt-pooling-unknown user 'bt embed $F/tiny.fa --model protein-small --pooling max -o e.parquet' 'pooling|max'
c opt-layers-99 user 'bt embed $F/tiny.fa --model protein-small --layers 99 -o e.parquet' 'layer'
c opt-layers-neg99 user 'bt embed $F/tiny.fa --model protein-small --layers -99 -o e.parquet' 'layer'
c opt-init-equals-out refuse-no-output 'cp -r $MODELS/protein-small X && sha256sum X/model.safetensors > s0 && bt train --objective mlm --init X --train $F/tiny.fa -o X --steps 1; rc=$?; sha256sum -c --quiet s0 >/dev/null || { why "X/model.safetensors was changed"; exit 1; }; exit $rc' 'X/checkpoint'
c opt-out-equals-input refuse-no-output 'cp $F/tiny.fa x.fasta && bt embed x.fasta --model protein-small -o x.fasta; rc=$?; cmp -s x.fasta $F/tiny.fa || { why "x.fasta was overwritten"; exit 1; }; exit $rc' 'x.fasta.parquet'
c opt-out-equals-input-chem refuse-no-output 'cp $F/tiny.csv x.csv && bt chem x.csv -o x.csv; rc=$?; cmp -s x.csv $F/tiny.csv || { why "x.csv was overwritten"; exit 1; }; exit $rc' 'x.csv.parquet'
c opt-merge-into-dir refuse-no-output 'cp -r $F/ds ds && bt merge ds -o ds/m.parquet' 'ds/m.parquet'
c opt-merge-missing-part user 'bt merge $F/ds_missing -o m.parquet' 'part-00001'
c opt-merge-empty-dir user 'mkdir d && bt merge d -o m.parquet' 'part|empty|no '
c opt-merge-ok ok 'bt merge $F/ds -o m.parquet' 'rows m.parquet 4'
c opt-resume-stdin user 'bt embed - --model protein-small -o e.parquet --resume < $F/tiny.fa' 'resume'
c opt-resume-stdin-chem user 'bt chem - --format smiles -o c.parquet --resume < $F/tiny.smi' 'resume'
c opt-summary-json-missing-dir user 'bt stats $F/tiny.fa --summary-json no/dir/s.json' 'no/dir'
c opt-labels-missing user 'bt embed $F/tiny.fa --model protein-small -o e.parquet --plot p.png --labels nope.csv' 'nope.csv'
c opt-tokenizer-bogus user 'bt tokenize $F/tiny.fa --tokenizer bpe -o t.parquet' 'tokenizer|bpe'
c opt-tokenizer-kmer0 user 'bt tokenize $F/tiny.fa --tokenizer dna-kmer:0 -o t.parquet' 'dna-kmer'
c opt-generate-n0 user 'bt generate --model smiles-small -n 0 -o g.parquet' 'num|-n'
c opt-generate-top-p-2 user 'bt generate --model smiles-small -n 4 --top-p 2 -o g.parquet' 'top-p'
c opt-generate-temp-neg user 'bt generate --model smiles-small -n 4 --temperature -1 -o g.parquet' 'temperature'
c opt-generate-bad-filter user 'bt generate --model smiles-small -n 4 --filter "qed >" -o g.parquet' 'filter|qed'
c opt-generate-protein-model user 'bt generate --model protein-small -n 4 -o g.parquet' 'protein-small|decoder|causal|llama'
c opt-generate-ok ok 'bt generate --model smiles-small -n 4 --seed 1 -o g.parquet' 'rows g.parquet 4'
c opt-select-unknown-col user 'bt select $F/good.parquet --filter "nonsense > 1" -o s.parquet' 'nonsense'
c opt-train-arch-bogus user 'bt train --objective mlm --arch esm9 --train $F/tiny.fa -o tr --steps 1' 'esm9|arch'
c opt-train-no-arch user 'bt train --objective mlm --train $F/tiny.fa -o tr --steps 1' 'arch|init'
c opt-train-over-finished ok-or-user 'cp -r $F/trained tr && bt train --objective mlm --arch esm2-tiny --train $F/tiny.fa -o tr --steps 1' ''
c opt-finetune-existing-head user 'cp -r $F/head h && bt finetune --model protein-small --data $F/labels.csv --target y --epochs 1 -o h' 'force|exists|already'

# ---------------------------------------------------------------- 5. concurrency
c conc-train-same-out user 'conc_train' 'lock|running|in use|another|busy'
c conc-train-resume-while-running user 'conc_train --resume' 'lock|running|in use|another|busy'
c conc-embed-same-out ok 'conc2 e.parquet "rows e.parquet 100" bt embed $DEMO/swissprot_100.fasta --model protein-small -o e.parquet'
c conc-chem-same-out ok 'conc2 c.parquet "rows c.parquet 2000" bt chem $DEMO/chembl_2000.csv -o c.parquet -q'
c conc-embed-same-part ok 'conc2 ds "rows ds/part-00000-of-00002.parquet 50" bt embed $DEMO/swissprot_100.fasta --model protein-small --shard 0/2 -o ds/'
c conc-embed-resume-same-out ok 'conc2 e.parquet "rows e.parquet 100" bt embed $DEMO/swissprot_100.fasta --model protein-small -o e.parquet --resume'

# ---------------------------------------------------------------- 6. resources
c res-giant-window ok-or-user 'timeout 120 $B --threads 1 embed $F/giant.fa --model protein-small --long window -o e.parquet' 'rows e.parquet 1 && pyq e.parquet "t.column(\"length\")[0].as_py()==1000000"'
c res-giant-truncate ok 'timeout 60 $B --threads 1 embed $F/giant.fa --model protein-small -o e.parquet' 'rows e.parquet 1 && pyq e.parquet "t.column(\"truncated\")[0].as_py()"'
c res-giant-stats ok 'bt stats $F/giant.fa -o s.parquet' 'rows s.parquet 1'
c res-many-tiny-embed ok 'bt embed $F/many.fa --model protein-small -o e.parquet -q' 'rows e.parquet 10000 && pyq e.parquet "t.column(\"index\").to_pylist()==list(range(10000))"'
c res-many-tiny-stats ok 'bt stats $F/many.fa -o s.parquet' 'rows s.parquet 10000'
c res-many-tiny-tokenize ok 'bt tokenize $F/many.fa --tokenizer esm2 -o t.parquet' 'rows t.parquet 10000'

echo "----"
echo "$pass passed, $fail failed ($((pass + fail)) cases); work folder $T"
[ $fail = 0 ] || { echo "failed: ${FAILED[*]}"; exit 1; }
