/* `semiseg export`: a registry model with PyTorch-default initial weights
 * (drawn from our RNG with --seed) saved as a state-dict HDF5 file. */
#include "model_opts.h"
#include "harness/weights_h5.h"
#include "kernels/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: semiseg export --model NAME --out W.h5 [--classes K] [--in-ch C] [--seed S]\n"
            "                      [--patch DxHxW] [--norm batch|none|instance|group]\n\n"
            "Builds model NAME (eval form), initialises it as PyTorch would by default\n"
            "(kaiming-uniform weights and biases, BN weight 1, bias 0, running stats 0/1; the\n"
            "draws come from semiseg's RNG keyed by --seed, default 0) and saves its\n"
            "state_dict as HDF5: one float32 dataset per key with the PyTorch shape, plus an\n"
            "int64 num_batches_tracked (0) per BatchNorm (format: docs/weights.md).\n\n"
            "  --model NAME     registry name (list below)\n"
            "  --out W.h5       output file (written to W.h5.tmp, then renamed)\n"
            "  --classes K      classes per segmentation head (default: 2 for 3-D, 4 for 2-D)\n"
            "  --in-ch C        image channels (default 1; sassnet_disc adds its SDM channel)\n"
            "  --seed S         initialisation seed (default 0)\n"
            "  --patch DxHxW    input size the model is planned for (default 112x112x80,\n"
            "                   2-D models HxW, default 256x256); fixes FBA-Net's Linear fan-in\n"
            "  --norm KIND      normalisation layers (default batch)\n\n");
    ss_cli_list_models(f);
}

int ss_cmd_export(int argc, char **argv)
{
    const char *cmd = "export", *out_path = NULL;
    ss_model_cfg o = ss_cli_model_unset();
    unsigned long long seed = 0;
    for (int i = 1; i < argc; i++) {
        int r = ss_cli_model_opt(&o, cmd, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r)
            continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(argv[i], "--out") || !strcmp(argv[i], "--seed")) && i + 1 >= argc) {
            fprintf(stderr, "%s: %s needs a value (see --help)\n", cmd, argv[i]);
            return 2;
        } else if (!strcmp(argv[i], "--out")) {
            out_path = argv[++i];
        } else if (!strcmp(argv[i], "--seed")) {
            char *end;
            const char *v = argv[++i];
            errno = 0;
            seed = strtoull(v, &end, 10);
            if (errno || end == v || *end || *v == '-') {
                fprintf(stderr, "%s: --seed wants a non-negative integer, got '%s'\n", cmd, v);
                return 2;
            }
        } else {
            fprintf(stderr, "%s: unknown option '%s' (see semiseg export --help)\n", cmd, argv[i]);
            return 2;
        }
    }
    ss_model_cfg cfg;
    const ss_model_info *info = ss_cli_model_cfg(&o, cmd, &cfg);
    if (!info)
        return 2;
    if (!out_path) {
        fprintf(stderr, "%s: --out is required\n", cmd);
        return 2;
    }
    ss_graph *g = graph_new();
    ss_nn m;
    nn_begin(&m, g, 0, seed);
    ss_model_out out;
    int x = g_input(g, "input",
                    ss_shape5(1, ss_cli_input_channels(&cfg), cfg.patch[0], cfg.patch[1],
                              cfg.patch[2]));
    int rc = 1;
    fprintf(stderr, "export: building %s (%d-D, classes %d, in_ch %d, norm %s, patch %dx%dx%d)\n",
            info->name, info->dims, cfg.classes, cfg.in_ch, ss_cli_norm_name(cfg.norm),
            cfg.patch[0], cfg.patch[1], cfg.patch[2]);
    if (ss_model_build(&m, &cfg, x, &out) || graph_plan(g, ss_backend_cpu(), SS_PLAN_QUIET, NULL) ||
        nn_init_params(&m) || ss_weights_save(&m, out_path, 0))
        goto done;
    fprintf(stderr,
            "export: %lld parameters, %d state_dict tensors + %d num_batches_tracked, seed %llu "
            "-> %s\n",
            nn_param_count(&m), m.n, m.nbn, seed, out_path);
    rc = 0;
done:
    if (rc)
        fprintf(stderr, "export: %s\n", semiseg_error());
    nn_end(&m);
    graph_free(g);
    return rc;
}
