/* `semiseg forward`: one eval-mode forward pass of a registry model with
 * weights from a state-dict HDF5 file on an input read from HDF5; every
 * output head is written as a dataset named after it. */
#include "model_opts.h"
#include "harness/weights_h5.h"
#include "kernels/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: semiseg forward --model NAME --weights W.h5 --input X.h5 --output Y.h5\n"
            "                       [--dataset input] [--classes K] [--patch DxHxW]\n"
            "                       [--norm batch|none|instance|group] [--cpu]\n\n"
            "Runs model NAME in eval mode (BatchNorm with running statistics, no dropout)\n"
            "on dataset --dataset (default 'input') of X.h5: float, (N,C,D,H,W) for 3-D\n"
            "models, (N,C,H,W) for 2-D models; C sets the model's input channels (for\n"
            "sassnet_disc C = 1 + image channels: the SDM comes first). The\n"
            "weights are loaded strictly (every key, exact PyTorch shapes; format:\n"
            "docs/weights.md). Every output head is written to Y.h5 (via Y.h5.tmp) as a\n"
            "float32 dataset named after it (seg1, sdf, fg1, ...) with the shape PyTorch\n"
            "gives it: (N,K,D,H,W), (N,K,H,W) for 2-D models, (N,C) for vector outputs\n"
            "(FBA-Net projections, discriminator logits).\n\n"
            "  --model NAME     registry name (list below)\n"
            "  --weights W.h5   state_dict file (from `semiseg export`, training, or PyTorch)\n"
            "  --input X.h5     input file\n"
            "  --output Y.h5    output file\n"
            "  --dataset NAME   input dataset name (default input)\n"
            "  --classes K      classes per segmentation head (default: 2 for 3-D, 4 for 2-D)\n"
            "  --patch DxHxW    patch size the model is configured for (default: the input's\n"
            "                   spatial size; FBA-Net's Linear fan-in depends on it)\n"
            "  --norm KIND      normalisation layers (default batch)\n"
            "  --cpu            run on the CPU reference backend even when CUDA is available\n\n");
    ss_cli_list_models(f);
}

/* Fails early (before a long run) when the weights cannot be read or the
 * output's directory cannot be written. */
static int check_paths(const char *cmd, const char *wpath, const char *opath)
{
    if (ss_cli_weights_readable(cmd, wpath))
        return -1;
    char dir[4096];
    ss_cli_dirname(opath, dir, sizeof dir);
    if (access(dir, W_OK) != 0) {
        fprintf(stderr, "%s: cannot write %s: directory %s is missing or not writable\n", cmd,
                opath, dir);
        return -1;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *dims_str(int rank, const long long *d)
{
    static char buf[160];
    size_t o = (size_t)snprintf(buf, sizeof buf, "(");
    for (int i = 0; i < rank && o < sizeof buf; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%lld", i ? "," : "", d[i]);
    if (o < sizeof buf)
        snprintf(buf + o, sizeof buf - o, ")");
    return buf;
}

/* Input dims (rank 5, or rank 4 / rank 5 with D = 1 for 2-D models) as a
 * 5-D shape; -1 with a message. */
static int input_shape(const ss_model_info *info, const char *path, const char *ds, int rank,
                       const long long *d, ss_shape *s)
{
    long long v[5];
    if (rank == 5) {
        memcpy(v, d, sizeof v);
        if (info->dims == 2 && v[2] != 1) {
            fprintf(stderr, "forward: %s:%s has shape %s; %s is a 2-D model and wants (N,C,H,W)\n",
                    path, ds, dims_str(rank, d), info->name);
            return -1;
        }
    } else if (rank == 4 && info->dims == 2) {
        v[0] = d[0], v[1] = d[1], v[2] = 1, v[3] = d[2], v[4] = d[3];
    } else {
        fprintf(stderr, "forward: %s:%s has shape %s; %s wants %s\n", path, ds, dims_str(rank, d),
                info->name, info->dims == 2 ? "(N,C,H,W)" : "(N,C,D,H,W)");
        return -1;
    }
    for (int i = 0; i < 5; i++) {
        if (v[i] < 1 || v[i] > (1 << 30)) {
            fprintf(stderr, "forward: %s:%s has an unusable shape %s\n", path, ds,
                    dims_str(rank, d));
            return -1;
        }
        s->d[i] = (int)v[i];
    }
    return 0;
}

int ss_cmd_forward(int argc, char **argv)
{
    const char *cmd = "forward";
    const char *wpath = NULL, *ipath = NULL, *opath = NULL, *dsname = "input";
    int cpu = 0;
    ss_model_cfg o = ss_cli_model_unset();
    for (int i = 1; i < argc; i++) {
        int r = ss_cli_model_opt(&o, cmd, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r)
            continue;
        const char *a = argv[i];
        const char **dst = !strcmp(a, "--weights") ? &wpath
                           : !strcmp(a, "--input") ? &ipath
                           : !strcmp(a, "--output") ? &opath
                           : !strcmp(a, "--dataset") ? &dsname
                                                     : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--cpu")) {
            cpu = 1;
        } else if (dst && i + 1 < argc) {
            *dst = argv[++i];
        } else if (dst) {
            fprintf(stderr, "%s: %s needs a value (see --help)\n", cmd, a);
            return 2;
        } else {
            fprintf(stderr, "%s: unknown option '%s' (see semiseg forward --help)\n", cmd, a);
            return 2;
        }
    }
    ss_model_cfg cfg;
    const ss_model_info *info = ss_cli_model_cfg(&o, cmd, &cfg);
    if (!info)
        return 2;
    if (!wpath || !ipath || !opath) {
        fprintf(stderr, "%s: --weights, --input and --output are required (see --help)\n", cmd);
        return 2;
    }
    if (check_paths(cmd, wpath, opath))
        return 1;
    if (o.in_ch > 0) {
        fprintf(stderr, "%s: --in-ch is taken from the input's C axis here\n", cmd);
        return 2;
    }

    int rank;
    long long dims[SS_H5_MAX_RANK];
    float *xin = ss_h5_read_f32(ipath, dsname, &rank, dims);
    if (!xin) {
        fprintf(stderr, "%s: %s\n", cmd, semiseg_error());
        return 1;
    }
    ss_shape xs;
    if (input_shape(info, ipath, dsname, rank, dims, &xs)) {
        free(xin);
        return 1;
    }
    cfg.in_ch = 1;
    cfg.in_ch = xs.d[1] - (ss_cli_input_channels(&cfg) - 1); /* sassnet_disc: C = 1 + in_ch */
    if (cfg.in_ch < 1) {
        fprintf(stderr, "%s: %s:%s has %d channels; %s wants at least %d\n", cmd, ipath, dsname,
                xs.d[1], info->name, xs.d[1] - cfg.in_ch + 1);
        free(xin);
        return 1;
    }
    if (!o.patch[0])
        for (int k = 0; k < 3; k++)
            cfg.patch[k] = xs.d[2 + k];
    fprintf(stderr,
            "forward: input %s:%s %s; model %s (%d-D, classes %d, norm %s, patch %dx%dx%d)\n",
            ipath, dsname, dims_str(rank, dims), info->name, info->dims, cfg.classes,
            ss_cli_norm_name(cfg.norm), cfg.patch[0], cfg.patch[1], cfg.patch[2]);

    const ss_backend *be = cpu ? ss_backend_cpu() : ss_backend_default();
    ss_graph *g = graph_new();
    ss_nn m;
    nn_begin(&m, g, 0, 0);
    ss_model_out out;
    float *ybuf[SS_MODEL_MAX_OUT] = {0};
    ss_h5_array arr[SS_MODEL_MAX_OUT];
    int rc = 1;
    int x = g_input(g, "input", xs);
    if (ss_model_build(&m, &cfg, x, &out))
        goto done;
    for (int k = 0; k < out.n; k++)
        graph_keep(g, out.t[k]);
    if (graph_plan(g, be, 0, stderr))
        goto done;
    ss_weights_stats st;
    if (ss_weights_load_stats(&m, wpath, 1, &st))
        goto done;
    fprintf(stderr, "forward: loaded %d tensors from %s on %s\n", st.loaded, wpath, be->name);
    double t0 = now_s();
    if (graph_upload(g, x, xin) || graph_run(g))
        goto done;
    for (int k = 0; k < out.n; k++) {
        ss_shape s = graph_shape(g, out.t[k]);
        ybuf[k] = malloc((size_t)ss_numel(&s) * sizeof(float));
        if (!ybuf[k]) {
            ss_seterr("out of memory for output '%s'", out.name[k]);
            goto done;
        }
        if (graph_download(g, out.t[k], ybuf[k]))
            goto done;
        arr[k].name = out.name[k];
        arr[k].data = ybuf[k];
        /* vectors (unit D, H, W: projections, logits) are (N,C) as in PyTorch;
         * 2-D models drop the unit D axis */
        int vec = s.d[2] == 1 && s.d[3] == 1 && s.d[4] == 1;
        arr[k].rank = 0;
        for (int a = 0; a < 5; a++)
            if (!(a >= 2 && vec) && !(a == 2 && info->dims == 2 && s.d[2] == 1))
                arr[k].dims[arr[k].rank++] = s.d[a];
    }
    fprintf(stderr, "forward: ran in %.3f s\n", now_s() - t0);
    if (ss_h5_write_f32(opath, out.n, arr))
        goto done;
    for (int k = 0; k < out.n; k++)
        fprintf(stderr, "forward: wrote %s %s\n", arr[k].name, dims_str(arr[k].rank, arr[k].dims));
    fprintf(stderr, "forward: -> %s\n", opath);
    rc = 0;
done:
    if (rc)
        fprintf(stderr, "%s: %s\n", cmd, semiseg_error());
    for (int k = 0; k < SS_MODEL_MAX_OUT; k++)
        free(ybuf[k]);
    free(xin);
    nn_end(&m);
    graph_free(g);
    return rc;
}
