#!/bin/sh
# Side-by-side training-step timings: semiseg (CPU fast path) against the
# PyTorch peer (ci/peers/torch_step.py) with the same model, batch, patch and
# thread count. Prints median ms per step, peak RSS and the ratios
# semiseg/PyTorch (time and memory; lower is better for semiseg).
#
# usage: sh ci/peers/bench.sh BIN   (make bench)
# env:   BENCH_THREADS (2), BENCH_ITERS (5), BENCH_REPEAT (3: runs per line,
#        alternating the two programs; the median of the runs' medians is shown),
#        PYTHON (.venv/bin/python)
set -u
BIN=${1:-build/semiseg}
THREADS=${BENCH_THREADS:-2}
ITERS=${BENCH_ITERS:-5}
REPEAT=${BENCH_REPEAT:-3}
PY=${PYTHON:-.venv/bin/python}
HERE=$(dirname "$0")

if [ ! -x "$BIN" ]; then
    echo "bench: $BIN not found (run make first)" >&2
    exit 1
fi
HAVE_TORCH=0
if [ -x "$PY" ] && "$PY" -c "import torch" >/dev/null 2>&1; then
    HAVE_TORCH=1
else
    echo "bench: $PY with torch not found; the PyTorch column is skipped" \
         "(create .venv with torch to compare)"
fi

export OMP_NUM_THREADS=$THREADS

# median of the numbers on stdin
med() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
field() { awk -v k="$1" '$1==k {print $2; exit}'; }

printf "%-8s %-2s %-10s | %10s %8s %8s | %10s %8s %8s | %7s %9s %7s %7s\n" model B patch \
       "semiseg ms" "cpu ms" "RSS MiB" "torch ms" "cpu ms" "RSS MiB" "t ratio" "t range" "cpu" "m ratio"
status=0
for line in "vnet 2 64x64x48" "mcnet3 2 64x64x48" "unet2d 8 256x256"; do
    set -- $line
    m=$1 b=$2 p=$3
    : > /tmp/ss_bench_$$.s
    : > /tmp/ss_bench_$$.t
    : > /tmp/ss_bench_$$.s.rss
    : > /tmp/ss_bench_$$.t.rss
    : > /tmp/ss_bench_$$.s.cpu
    : > /tmp/ss_bench_$$.t.cpu
    r=0
    while [ $r -lt "$REPEAT" ]; do
        out=$("$BIN" bench step --model "$m" --batch "$b" --patch "$p" --iters "$ITERS" \
              --threads "$THREADS" --quiet 2>&1) || { echo "bench: semiseg failed: $out" >&2; status=1; }
        echo "$out" | field step_ms >> /tmp/ss_bench_$$.s
        echo "$out" | field peak_rss_mib >> /tmp/ss_bench_$$.s.rss
        echo "$out" | field cpu_ms >> /tmp/ss_bench_$$.s.cpu
        if [ $HAVE_TORCH = 1 ]; then
            tout=$("$PY" "$HERE/torch_step.py" --model "$m" --batch "$b" --patch "$p" \
                   --iters "$ITERS" --threads "$THREADS" 2>&1) ||
                { echo "bench: torch_step.py failed: $tout" >&2; status=1; }
            echo "$tout" | field step_ms >> /tmp/ss_bench_$$.t
            echo "$tout" | field peak_rss_mib >> /tmp/ss_bench_$$.t.rss
            echo "$tout" | field cpu_ms >> /tmp/ss_bench_$$.t.cpu
        fi
        r=$((r + 1))
    done
    sms=$(med < /tmp/ss_bench_$$.s)
    srss=$(med < /tmp/ss_bench_$$.s.rss)
    scpu=$(med < /tmp/ss_bench_$$.s.cpu)
    if [ $HAVE_TORCH = 1 ]; then
        tms=$(med < /tmp/ss_bench_$$.t)
        trss=$(med < /tmp/ss_bench_$$.t.rss)
        tcpu=$(med < /tmp/ss_bench_$$.t.cpu)
        cr=$(awk -v a="$scpu" -v b="$tcpu" 'BEGIN {printf "%.2f", a / b}')
        tr=$(awk -v a="$sms" -v b="$tms" 'BEGIN {printf "%.2f", a / b}')
        # range of the time ratio over the run pairs (semiseg run r / PyTorch run r)
        rr=$(paste /tmp/ss_bench_$$.s /tmp/ss_bench_$$.t |
             awk '$1 > 0 && $2 > 0 {r = $1 / $2; if (NR == 1 || r < lo) lo = r; if (NR == 1 || r > hi) hi = r}
                  END {if (NR) printf "%.2f-%.2f", lo, hi; else print "-"}')
        mr=$(awk -v a="$srss" -v b="$trss" 'BEGIN {printf "%.2f", a / b}')
    else
        tms=- trss=- tcpu=- tr=- cr=- mr=- rr=-
    fi
    printf "%-8s %-2s %-10s | %10s %8s %8s | %10s %8s %8s | %7s %9s %7s %7s\n" "$m" "$b" "$p" \
           "$sms" "$scpu" "$srss" "$tms" "$tcpu" "$trss" "$tr" "$rr" "$cr" "$mr"
    rm -f /tmp/ss_bench_$$.s /tmp/ss_bench_$$.t /tmp/ss_bench_$$.s.rss /tmp/ss_bench_$$.t.rss \
          /tmp/ss_bench_$$.s.cpu /tmp/ss_bench_$$.t.cpu
done
echo "threads $THREADS, median of $ITERS steps after one warm-up (x$REPEAT runs); ms = wall time"
echo "per step, cpu = process CPU time per step; ratios semiseg/PyTorch (goal: time <= 0.70, memory <= 1.00);"
echo "t range = lowest and highest time ratio of single run pairs (a shared machine's noise)"
exit $status
