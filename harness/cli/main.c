/* semiseg command-line entry. */
#include "kernels/error.h"

#include <stdio.h>
#include <string.h>

int ss_cmd_demo(int argc, char **argv);
int ss_cmd_export(int argc, char **argv);
int ss_cmd_forward(int argc, char **argv);

static void usage(FILE *f)
{
    fprintf(f, "usage: semiseg <command> [options]\n\n"
               "commands:\n"
               "  demo      tiny synthetic training on the CPU reference ops (prints a falling loss)\n"
               "  export    save a model's PyTorch-default initial weights (state_dict HDF5)\n"
               "  forward   eval-mode forward pass: weights + input HDF5 -> outputs HDF5\n"
               "  help      this text\n\n"
               "Run `semiseg <command> --help` for a command's options.\n");
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
    if (!strcmp(cmd, "demo"))
        return ss_cmd_demo(argc - 1, argv + 1);
    if (!strcmp(cmd, "export"))
        return ss_cmd_export(argc - 1, argv + 1);
    if (!strcmp(cmd, "forward"))
        return ss_cmd_forward(argc - 1, argv + 1);
    fprintf(stderr, "semiseg: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
