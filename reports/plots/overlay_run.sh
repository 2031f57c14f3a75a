#!/bin/sh
# Overlay PNG of one test case of a finished run (best checkpoint):
#   overlay_run.sh SEMISEG RUN_DIR DATA_ROOT OUT.png [CASE_INDEX]
# Predicts the run's test list with `semiseg eval --save-pred` (the model and
# patch of the run's spec.ini) into RUN_DIR/pred-best/, then draws the slice of
# case CASE_INDEX (default 1 = the first of test.list) with the most ground-truth
# foreground: `semiseg plot overlay` (ground truth red, prediction green).
set -eu
bin=$1 run=$2 root=$3 out=$4 idx=${5:-1}
spec="$run/spec.ini"
[ -f "$spec" ] && [ -f "$run/checkpoints/best.weights.h5" ] || {
  echo "overlay_run.sh: $run is not a finished run (no spec.ini or best weights)" >&2; exit 1; }
key() { sed -n "/^\[$1\]/,/^\[/s/^$2 = \([^ ;]*\).*/\1/p" "$spec" | head -n 1; }
model=$(key model name)
dataset=$(key run dataset)
patch=$(key data patch | tr , x)
case $patch in 1x*) patch=${patch#1x} ;; esac
"$bin" eval --weights "$run/checkpoints/best.weights.h5" --model "$model" --patch "$patch" \
  --dataset "$dataset" --data-root "$root" --out "$run/pred-best" --save-pred --tag best 2>/dev/null
id=$(sed -n "${idx}p" "$root/test.list" | tr -d '\r')
for f in "$root/2018LA_Seg_Training Set/$id/mri_norm2.h5" "$root/data/$id.h5" \
         "$root/Pancreas_h5/${id}_norm.h5" "$root/$id.h5"; do
  if [ -f "$f" ]; then
    exec "$bin" plot overlay --image "$f" --pred "$run/pred-best/pred/$id.h5" --slice auto \
      --scale 4 "$out"
  fi
done
echo "overlay_run.sh: no file for test case '$id' under $root" >&2
exit 1
