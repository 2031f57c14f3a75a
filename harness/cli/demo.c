/* `semiseg demo`: a tiny synthetic 2-D segmentation training on the CPU
 * (discs in noise; conv-BN-ReLU x2, 1x1 head, cross-entropy, SGD) that prints a
 * falling loss. Later the demo runs a real method on a synthetic dataset. */
#include "harness/graph.h"
#include "harness/optim_sgd.h"
#include "kernels/error.h"
#include "kernels/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DN = 4, DS = 24, DC = 8 };

/* One batch of noisy discs: image = disc + N(0, 0.3)-ish noise, label = disc. */
static void make_batch(float *img, float *lab, uint64_t seed, uint64_t it)
{
    for (int n = 0; n < DN; n++) {
        uint64_t e = (uint64_t)n * 8;
        float cy = 6 + 12 * ss_rng_uniform(seed, 1, it, e), cx = 6 + 12 * ss_rng_uniform(seed, 1, it, e + 1);
        float r = 3 + 4 * ss_rng_uniform(seed, 1, it, e + 2);
        for (int y = 0; y < DS; y++)
            for (int x = 0; x < DS; x++) {
                size_t i = ((size_t)n * DS + y) * DS + x;
                int in = (y - cy) * (y - cy) + (x - cx) * (x - cx) <= r * r;
                float noise = ss_rng_uniform(seed, 2, it, i) + ss_rng_uniform(seed, 3, it, i) - 1.f;
                img[i] = (in ? 1.f : 0.f) + 0.8f * noise;
                lab[i] = in ? 1.f : 0.f;
            }
    }
}

static int block(ss_graph *g, int x, int cin, int cout, const char *name, int k)
{
    char nm[64];
    int pad[3] = {0, k / 2, k / 2}, one[3] = {1, 1, 1};
    snprintf(nm, sizeof nm, "%s.conv.weight", name);
    int w = g_param(g, nm, ss_shape5(cout, cin, 1, k, k));
    snprintf(nm, sizeof nm, "%s.conv.bias", name);
    int b = g_param(g, nm, ss_shape5(cout, 1, 1, 1, 1));
    snprintf(nm, sizeof nm, "%s.bn.weight", name);
    int ga = g_param(g, nm, ss_shape5(cout, 1, 1, 1, 1));
    snprintf(nm, sizeof nm, "%s.bn.bias", name);
    int be = g_param(g, nm, ss_shape5(cout, 1, 1, 1, 1));
    snprintf(nm, sizeof nm, "%s.bn.running_mean", name);
    int rm = g_buffer(g, nm, ss_shape5(cout, 1, 1, 1, 1), 0.f);
    snprintf(nm, sizeof nm, "%s.bn.running_var", name);
    int rv = g_buffer(g, nm, ss_shape5(cout, 1, 1, 1, 1), 1.f);
    return g_relu(g, g_bn_train(g, g_conv(g, x, w, b, one, pad), ga, be, rm, rv, 0.1f, 1e-5f));
}

int ss_cmd_demo(int argc, char **argv)
{
    int iters = 60;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: semiseg demo [--iters N] [--seed S]\n"
                   "Trains a tiny conv net on synthetic discs (CPU reference ops) and prints the loss.\n");
            return 0;
        } else if (!strcmp(argv[i], "--iters") && i + 1 < argc) {
            iters = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "demo: unknown option '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (iters < 1) {
        fprintf(stderr, "demo: --iters must be >= 1\n");
        return 2;
    }
    ss_graph *g = graph_new();
    int x = g_input(g, "image", ss_shape5(DN, 1, 1, DS, DS));
    int lab = g_input(g, "label", ss_shape5(DN, 1, 1, DS, DS));
    int h = block(g, x, 1, DC, "block1", 3);
    h = block(g, h, DC, DC, "block2", 3);
    int one[3] = {1, 1, 1}, zero[3] = {0, 0, 0};
    int wo = g_param(g, "out_conv.weight", ss_shape5(2, DC, 1, 1, 1));
    int bo = g_param(g, "out_conv.bias", ss_shape5(2, 1, 1, 1, 1));
    int loss = g_ce(g, g_conv(g, h, wo, bo, one, zero), lab, -100);
    graph_keep(g, loss);
    ss_sgd opt = {0};
    int rc = 1;
    if (graph_backward(g, loss) || graph_plan(g, ss_backend_default(), 0, stdout))
        goto fail;
    /* fan-in scaled uniform init; BN gamma 1, beta 0 */
    for (int t = 0, k = 0; t < graph_n_tensors(g); t++) {
        if (graph_role(g, t) != SS_ROLE_PARAM)
            continue;
        ss_shape s = graph_shape(g, t);
        const char *nm = graph_name(g, t);
        if (strstr(nm, ".bn.")) {
            float v[DC];
            for (int c = 0; c < DC; c++)
                v[c] = strstr(nm, "weight") ? 1.f : 0.f;
            if (graph_upload(g, t, v))
                goto fail;
        } else {
            int fan_in = s.d[1] * s.d[2] * s.d[3] * s.d[4];
            if (graph_init_uniform(g, t, 1.f / sqrtf((float)fan_in), seed, (uint32_t)k++))
                goto fail;
        }
    }
    if (sgd_init(&opt, g, 0.05f, 0.9f, 1e-4f))
        goto fail;
    float *img = malloc(sizeof(float) * DN * DS * DS), *lb = malloc(sizeof(float) * DN * DS * DS);
    double first = 0, last = 0, avg = 0;
    for (int it = 0; it < iters; it++) {
        make_batch(img, lb, seed, (uint64_t)it);
        float l;
        if (graph_upload(g, x, img) || graph_upload(g, lab, lb) || graph_run(g) ||
            graph_download(g, loss, &l) || sgd_step(&opt)) {
            free(img);
            free(lb);
            goto fail;
        }
        avg += l;
        if ((it + 1) % 10 == 0 || it + 1 == iters) {
            int cnt = (it + 1) % 10 ? (it + 1) % 10 : 10;
            printf("iter %4d  loss %.4f\n", it + 1, avg / cnt);
            if (it + 1 == 10 || iters < 10)
                first = avg / cnt;
            last = avg / cnt;
            avg = 0;
        }
        if (it == 0)
            printf("iter %4d  loss %.4f\n", 1, l);
    }
    free(img);
    free(lb);
    printf("demo: mean loss %.4f over the first 10 iterations, %.4f over the last %d\n", first, last,
           iters % 10 ? iters % 10 : 10);
    if (!(last < first))
        fprintf(stderr, "demo: warning: the loss did not fall\n");
    rc = 0;
fail:
    if (rc)
        fprintf(stderr, "demo: %s\n", semiseg_error());
    sgd_free(&opt);
    graph_free(g);
    return rc;
}
