# Dice vs labeled ratio per method: `gnuplot -c ratio.gp DATA OUT.png [TITLE]`.
# DATA (written by `semiseg plot ratio`): one block per method with the header
# `pct "<method>" std paper`, then rows "pct mean std paper" (NaN = none).
# Ours: solid lines with error bars (std over seeds); paper: dashed, same colour.
data = ARG1
out = ARG2
ttl = ARGC >= 3 ? ARG3 : "Dice vs labeled ratio"
set terminal pngcairo size 800, 550 font ",10" noenhanced
set output out
set datafile missing "NaN"
set key autotitle columnheader outside right
set title ttl
set xlabel "labeled (%)"
set ylabel "Dice (%)"
set grid
set logscale x
set xrange [5:150]
set xtics (10, 20, 50, 100)
stats data nooutput
nb = STATS_blocks
plot for [b=0:nb-1] data index b using 1:2:3 with yerrorlines lw 1.5 pt 7 lc b+1, \
     for [b=0:nb-1] data index b using 1:4 with linespoints dt 2 pt 6 lc b+1 notitle
