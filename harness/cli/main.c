/* semiseg command-line entry: one table of subcommands, each in its own file. */
#include "kernels/error.h"

#include <stdio.h>
#include <string.h>

int ss_cmd_demo(int argc, char **argv);
int ss_cmd_export(int argc, char **argv);
int ss_cmd_forward(int argc, char **argv);
int ss_cmd_data(int argc, char **argv);
int ss_cmd_metrics(int argc, char **argv);
int ss_cmd_eval(int argc, char **argv);
int ss_cmd_train(int argc, char **argv);
int ss_cmd_bench(int argc, char **argv);
int ss_cmd_sweep(int argc, char **argv);
int ss_cmd_table(int argc, char **argv);
int ss_cmd_plot(int argc, char **argv);

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} cmds[] = {
    {"demo", ss_cmd_demo, "tiny synthetic training on the CPU (prints a falling loss)"},
    {"train", ss_cmd_train, "train one method on one dataset / labeled count / seed (a run directory)"},
    {"eval", ss_cmd_eval, "evaluate a run or a weights file on a dataset's test list"},
    {"metrics", ss_cmd_metrics, "Dice / Jaccard / HD95 / ASD of a prediction vs a ground truth (HDF5)"},
    {"data", ss_cmd_data, "datasets: write synthetic twins (synth), check a data root (verify)"},
    {"sweep", ss_cmd_sweep, "run the missing cells of a table spec (or write an sbatch array script)"},
    {"table", ss_cmd_table, "a table spec's results as Markdown / LaTeX / CSV beside the paper's numbers"},
    {"plot", ss_cmd_plot, "training curves, Dice vs labeled ratio (gnuplot), overlay PNG of a slice"},
    {"bench", ss_cmd_bench, "time training steps and ops on this machine"},
    {"export", ss_cmd_export, "save a model's PyTorch-default initial weights (state_dict HDF5)"},
    {"forward", ss_cmd_forward, "eval-mode forward pass: weights + input HDF5 -> outputs HDF5"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: semiseg <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-9s %s\n", cmds[i].name, cmds[i].help);
    fprintf(f, "  %-9s %s\n\nRun `semiseg <command> --help` for a command's options.\n", "help",
            "this text");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(cmd, cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "semiseg: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
