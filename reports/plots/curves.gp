# Training curves of one run: `gnuplot -c curves.gp DATA OUT.png [noeval]`.
# DATA (written by `semiseg plot curves`): block 0 = "iter <loss terms...>" per
# logged iteration, block 1 = "iter <split>_dice" per selection evaluation.
# A third argument "noeval" leaves out the Dice panel (no evaluation ran).
data = ARG1
out = ARG2
has_eval = !(ARGC >= 3 && ARG3 eq "noeval")
set terminal pngcairo size 900, (has_eval ? 800 : 450) font ",10" noenhanced
set output out
set datafile missing "NaN"
set key autotitle columnheader outside right
stats data index 0 nooutput
ncols = STATS_columns
if (has_eval) { set multiplot layout 2, 1 }
set title "loss terms"
set xlabel "iteration"
set ylabel "loss"
set grid
plot for [i=2:ncols] data index 0 using 1:i with lines lw 1.5
if (has_eval) {
    set title "selection Dice"
    set ylabel "mean Dice"
    set yrange [0:1]
    plot data index 1 using 1:2 with linespoints lw 1.5 pt 7
    unset multiplot
}
