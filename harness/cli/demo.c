/* `semiseg demo`: a tiny synthetic 2-D segmentation training on the CPU
 * (discs in noise; conv-BN-ReLU x2, 1x1 head, cross-entropy, SGD) that prints a
 * falling loss. Later the demo runs a real method on a synthetic dataset. */
#include "harness/graph.h"
#include "harness/nn/nn.h"
#include "harness/optim.h"
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

/* conv k x k (bias) -> BN -> ReLU, named like a PyTorch Sequential. */
static int block(ss_nn *m, int x, int cin, int cout, const char *name, int k)
{
    int kk[3] = {1, k, k}, pad[3] = {0, k / 2, k / 2}, one[3] = {1, 1, 1};
    int h = nn_conv(m, nn_name("%s.conv.0", name), x, cin, cout, kk, one, pad, 1, 1);
    return g_relu(m->g, nn_bn(m, nn_name("%s.conv.1", name), h, cout));
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
    ss_nn m;
    nn_begin(&m, g, 1, seed);
    int x = g_input(g, "image", ss_shape5(DN, 1, 1, DS, DS));
    int lab = g_input(g, "label", ss_shape5(DN, 1, 1, DS, DS));
    int h = block(&m, x, 1, DC, "block1", 3);
    h = block(&m, h, DC, DC, "block2", 3);
    int one[3] = {1, 1, 1}, zero[3] = {0, 0, 0};
    int logits = nn_conv(&m, "out_conv", h, DC, 2, one, one, zero, 1, 1);
    int loss = g_ce(g, logits, lab, -100);
    graph_keep(g, loss);
    ss_optim opt = {0};
    int rc = 1;
    if (graph_backward(g, loss) || graph_plan(g, ss_backend_default(), 0, stdout))
        goto fail;
    /* PyTorch's default init (kaiming-uniform, BN 1/0) from Philox keyed by the seed */
    if (nn_init_params(&m))
        goto fail;
    ss_optim_cfg ocfg = {.kind = SS_OPTIM_SGD, .lr = 0.05, .momentum = 0.9, .weight_decay = 1e-4};
    if (ss_optim_init(&opt, g, &ocfg))
        goto fail;
    float *img = malloc(sizeof(float) * DN * DS * DS), *lb = malloc(sizeof(float) * DN * DS * DS);
    double first = 0, last = 0, avg = 0;
    for (int it = 0; it < iters; it++) {
        make_batch(img, lb, seed, (uint64_t)it);
        float l;
        if (graph_upload(g, x, img) || graph_upload(g, lab, lb) || graph_run(g) ||
            graph_download(g, loss, &l) || ss_optim_step(&opt)) {
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
    ss_optim_free(&opt);
    nn_end(&m);
    graph_free(g);
    return rc;
}
