/* `semiseg bench`: timings on this machine.
 *
 *   bench step  one training step of a registry model (forward, cross-entropy
 *               on the first segmentation head, backward, SGD momentum 0.9 and
 *               weight decay 1e-4), median ms over --iters steps after one
 *               warm-up step, peak RSS and achieved GFLOP/s.
 *   bench ops   the same step with per-node timing, summed per op and
 *               direction: GFLOP/s and the share of this machine's FP32 peak
 *               (measured once with an FMA loop on the same thread count);
 *               FLOPs are the direct algorithm's, also for Winograd layers.
 *   bench peak  only the FMA-loop peak.
 *   bench infer one eval-mode forward pass (BatchNorm with running statistics,
 *               no dropout, no backward: the graph sliding-window inference
 *               runs), median ms over --iters runs after one warm-up run, the
 *               planned activation bytes and the number of fused
 *               conv+bn(+act) nodes; --no-fuse plans it without the inference
 *               fusion (harness/graph.h, graph_plan).
 *
 * FLOPs are the op descriptors' forward counts, backward counted as twice the
 * forward. */
#include "harness/graph.h"
#include "harness/nn/model.h"
#include "harness/optim.h"
#include "kernels/error.h"
#include "kernels/rng.h"

#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct bopts {
    const char *model;
    int batch, patch[3], iters, threads, ref, quiet, nodes, no_fuse;
} bopts;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* KiB on Linux */
}

/* Short names used by `make bench` and the PyTorch peer script. */
static const char *model_alias(const char *m)
{
    static const char *const map[][2] = {{"mcnet2", "mcnet3d_v1"}, {"mcnet3", "mcnet3d_v2"},
                                         {"fbanet", "fbanet3d"},   {"unet2d", "unet"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(m, map[i][0]))
            return map[i][1];
    return m;
}

/* ---- FP32 peak: independent FMA chains on every thread ------------------- */

#define FMA_CHAINS 12
/* FMA_CHAINS independent accumulators hide the FMA latency. They are named
 * variables, not an array: an array of vectors indexed in a loop is kept in
 * memory by the compiler and the loop then measures load/store throughput. */
#define FMA_BODY(VT, W, SET1, FMADD, STORE)                                                     \
    VT m = SET1(0.999999f), c = SET1(1e-7f);                                                    \
    VT a0 = SET1(0.f), a1 = SET1(1e-3f), a2 = SET1(2e-3f), a3 = SET1(3e-3f);                    \
    VT a4 = SET1(4e-3f), a5 = SET1(5e-3f), a6 = SET1(6e-3f), a7 = SET1(7e-3f);                  \
    VT a8 = SET1(8e-3f), a9 = SET1(9e-3f), a10 = SET1(1e-2f), a11 = SET1(1.1e-2f);              \
    for (long i = 0; i < reps; i++) {                                                           \
        a0 = FMADD(a0, m, c), a1 = FMADD(a1, m, c), a2 = FMADD(a2, m, c);                       \
        a3 = FMADD(a3, m, c), a4 = FMADD(a4, m, c), a5 = FMADD(a5, m, c);                       \
        a6 = FMADD(a6, m, c), a7 = FMADD(a7, m, c), a8 = FMADD(a8, m, c);                       \
        a9 = FMADD(a9, m, c), a10 = FMADD(a10, m, c), a11 = FMADD(a11, m, c);                   \
    }                                                                                           \
    VT all[FMA_CHAINS] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11};                    \
    float s = 0, tmp[W];                                                                        \
    for (int k = 0; k < FMA_CHAINS; k++) {                                                      \
        STORE(tmp, all[k]);                                                                     \
        for (int l = 0; l < W; l++)                                                             \
            s += tmp[l];                                                                        \
    }                                                                                           \
    return s;

__attribute__((target("avx2,fma"))) static float fma_avx2(long reps)
{
    FMA_BODY(__m256, 8, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_storeu_ps)
}
__attribute__((target("avx512f"))) static float fma_avx512(long reps)
{
    FMA_BODY(__m512, 16, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps)
}

/* GFLOP/s of the best FMA loop this CPU runs, on nthreads threads. */
static double fp32_peak(int nthreads)
{
    static double cached[2];
    static int cached_threads;
    if (cached_threads == nthreads && cached[0] > 0)
        return cached[0];
    double best = 0;
    for (int variant = 0; variant < 2; variant++) {
        int w;
        if (variant == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            w = 8;
        else if (variant == 1 && __builtin_cpu_supports("avx512f"))
            w = 16;
        else
            continue;
        const long reps = 20000000;
        for (int trial = 0; trial < 3; trial++) {
            double t0 = now_s();
            float sink = 0;
#pragma omp parallel num_threads(nthreads) reduction(+ : sink)
            sink += w == 8 ? fma_avx2(reps) : fma_avx512(reps);
            double t = now_s() - t0;
            double gf = 2.0 * w * FMA_CHAINS * (double)reps * nthreads / t * 1e-9;
            if (sink == 12345.f) /* keeps the loop */
                gf += 0;
            if (gf > best)
                best = gf;
        }
    }
    if (best <= 0)
        best = 1;
    cached[0] = best;
    cached_threads = nthreads;
    return best;
}

/* ---- the training step ------------------------------------------------------ */

typedef struct step {
    ss_graph *g;
    ss_nn m;
    ss_optim opt;
    int x, lab, loss;
    float *img, *lb;
    double flops;
} step;

static void step_free(step *s)
{
    ss_optim_free(&s->opt);
    if (s->g)
        nn_end(&s->m);
    graph_free(s->g);
    free(s->img);
    free(s->lb);
    memset(s, 0, sizeof *s);
}

static int step_build(step *s, const bopts *o, int flags)
{
    memset(s, 0, sizeof *s);
    const char *name = model_alias(o->model);
    const ss_model_info *info = ss_model_find(name);
    if (!info)
        return ss_seterr("unknown model '%s' (semiseg export --help lists them; short "
                         "names vnet, mcnet2, mcnet3, fbanet, unet2d)",
                         o->model);
    ss_model_cfg cfg = ss_model_defaults(name);
    memcpy(cfg.patch, o->patch, sizeof cfg.patch);
    if (info->dims == 2 && cfg.patch[0] != 1)
        return ss_seterr("%s is a 2-D model: --patch wants HxW, got %dx%dx%d", name,
                         o->patch[0], o->patch[1], o->patch[2]);
    s->g = graph_new();
    if (!s->g)
        return ss_seterr("out of memory");
    nn_begin(&s->m, s->g, 1, 1);
    const int *p = cfg.patch;
    s->x = g_input(s->g, "image", ss_shape5(o->batch, cfg.in_ch, p[0], p[1], p[2]));
    s->lab = g_input(s->g, "label", ss_shape5(o->batch, 1, p[0], p[1], p[2]));
    ss_model_out out = {0};
    if (ss_model_build(&s->m, &cfg, s->x, &out) != SS_OK)
        return SS_ERR;
    s->loss = g_ce(s->g, out.t[0], s->lab, -100);
    graph_keep(s->g, s->loss);
    ss_optim_cfg sgd = {.kind = SS_OPTIM_SGD, .lr = 0.01, .momentum = 0.9, .weight_decay = 1e-4};
    if (graph_backward(s->g, s->loss) != SS_OK ||
        graph_plan(s->g, ss_backend_cpu(), flags, stderr) != SS_OK || nn_init_params(&s->m) != SS_OK ||
        ss_optim_init(&s->opt, s->g, &sgd) != SS_OK)
        return SS_ERR;
    size_t nv = (size_t)o->batch * (size_t)cfg.in_ch * (size_t)p[0] * p[1] * p[2];
    size_t nl = (size_t)o->batch * (size_t)p[0] * p[1] * p[2];
    s->img = malloc(nv * sizeof(float));
    s->lb = malloc(nl * sizeof(float));
    if (!s->img || !s->lb)
        return ss_seterr("out of memory for a batch of %zu voxels", nv);
    for (size_t i = 0; i < nv; i++)
        s->img[i] = 2.f * ss_rng_uniform(7, 1, 0, i) - 1.f;
    for (size_t i = 0; i < nl; i++)
        s->lb[i] = (float)(int)(cfg.classes * ss_rng_uniform(7, 2, 0, i));
    s->flops = graph_flops(s->g);
    return SS_OK;
}

/* One step; *t_run / *t_sgd receive the seconds of graph_run and the SGD. */
static int step_run(step *s, long it, double *t_run, double *t_sgd, float *loss)
{
    graph_set_step(s->g, (uint64_t)it);
    if (graph_upload(s->g, s->x, s->img) != SS_OK || graph_upload(s->g, s->lab, s->lb) != SS_OK)
        return SS_ERR;
    double t0 = now_s();
    if (graph_run(s->g) != SS_OK)
        return SS_ERR;
    double t1 = now_s();
    if (ss_optim_step(&s->opt) != SS_OK)
        return SS_ERR;
    *t_run = t1 - t0;
    *t_sgd = now_s() - t1;
    return graph_download(s->g, s->loss, loss);
}

static int cmd_step(const bopts *o, int timing)
{
    step s;
    int flags = (o->quiet ? SS_PLAN_QUIET : 0) | (o->ref ? SS_PLAN_REF : 0) |
                (timing ? SS_PLAN_TIMING : 0);
    double t_build = now_s();
    if (step_build(&s, o, flags) != SS_OK) {
        fprintf(stderr, "bench: %s\n", semiseg_error());
        step_free(&s);
        return 1;
    }
    double *tr = calloc((size_t)o->iters, sizeof(double)), *ts = calloc((size_t)o->iters, sizeof(double));
    double *tt = calloc((size_t)o->iters, sizeof(double));
    double *tc = calloc((size_t)o->iters, sizeof(double));
    int rc = 1;
    float loss = 0;
    double w_run, w_sgd;
    if (!tr || !ts || !tt || !tc) {
        fprintf(stderr, "bench: out of memory\n");
        goto done;
    }
    /* warm-up: oneDNN primitives are created on first use */
    if (step_run(&s, 0, &w_run, &w_sgd, &loss) != SS_OK)
        goto fail;
    t_build = now_s() - t_build;
    if (timing)
        graph_reset_timing(s.g);
    for (int it = 0; it < o->iters; it++) {
        double c0 = cpu_s();
        if (step_run(&s, it + 1, &tr[it], &ts[it], &loss) != SS_OK)
            goto fail;
        tc[it] = cpu_s() - c0;
        tt[it] = tr[it] + ts[it];
        if (!isfinite(loss)) {
            fprintf(stderr, "bench: loss is %g at step %d\n", (double)loss, it + 1);
            goto done;
        }
    }
    double mc = median(tc, o->iters);
    double mt = median(tt, o->iters), mr = median(tr, o->iters), ms = median(ts, o->iters);
    if (!timing) {
        printf("model %s batch %d patch %dx%dx%d threads %d path %s\n", model_alias(o->model),
               o->batch, o->patch[0], o->patch[1], o->patch[2], omp_get_max_threads(),
               o->ref ? "reference" : "fast");
        printf("step_ms %.1f  (forward+backward %.1f, sgd %.1f; median of %d, min %.1f)\n",
               1e3 * mt, 1e3 * mr, 1e3 * ms, o->iters, 1e3 * tt[0]);
        printf("cpu_ms %.1f  (process CPU time per step, median; all threads)\n", 1e3 * mc);
        printf("peak_rss_mib %.1f\n", peak_rss_mib());
        printf("gflop_per_step %.2f  achieved_gflops %.2f  (first step incl. set-up %.2f s, loss %.4f)\n",
               s.flops * 1e-9, s.flops * 1e-9 / mt, t_build, (double)loss);
    } else {
        double peak = fp32_peak(omp_get_max_threads());
        printf("model %s batch %d patch %dx%dx%d threads %d; FP32 peak (FMA loop) %.1f GFLOP/s\n",
               model_alias(o->model), o->batch, o->patch[0], o->patch[1], o->patch[2],
               omp_get_max_threads(), peak);
        /* per (op, direction) */
        double ms_op[SS_OP_COUNT][2] = {{0}}, fl_op[SS_OP_COUNT][2] = {{0}}, total = 0;
        int cnt[SS_OP_COUNT][2] = {{0}};
        for (int i = 0; i < graph_n_nodes(s.g); i++) {
            ss_node_stat n;
            if (graph_node_stat(s.g, i, &n) != SS_OK || !n.kind || !n.calls)
                continue;
            ms_op[n.kind][n.is_bwd] += 1e3 * n.seconds / (double)n.calls;
            fl_op[n.kind][n.is_bwd] += n.flops;
            cnt[n.kind][n.is_bwd]++;
            total += 1e3 * n.seconds / (double)n.calls;
        }
        printf("%-12s %-4s %5s %10s %7s %10s %8s\n", "op", "dir", "nodes", "ms/step", "%time",
               "GFLOP/s", "%peak");
        for (int k = 1; k < SS_OP_COUNT; k++)
            for (int b = 0; b < 2; b++) {
                if (!cnt[k][b])
                    continue;
                double gf = ms_op[k][b] > 0 ? fl_op[k][b] * 1e-6 / ms_op[k][b] : 0;
                printf("%-12s %-4s %5d %10.2f %6.1f%% %10.2f %7.1f%%\n", ss_op_name(k),
                       b ? "bwd" : "fwd", cnt[k][b], ms_op[k][b], 100 * ms_op[k][b] / total, gf,
                       100 * gf / peak);
            }
        if (o->nodes)
            graph_print_timing(s.g, stdout);
        printf("%-12s %-4s %5s %10.2f  (graph; sgd %.2f ms; step median %.1f ms)\n", "total", "",
               "", total, 1e3 * ms, 1e3 * mt);
        printf("GFLOP/s: the direct algorithm's FLOP count over the time (3x3x3 convolutions on the "
               "Winograd path do fewer multiplies and can exceed the peak)\n");
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "bench: %s\n", semiseg_error());
done:
    free(tr);
    free(ts);
    free(tt);
    free(tc);
    step_free(&s);
    return rc;
}

/* ---- an inference forward pass ---------------------------------------------- */

static int cmd_infer(const bopts *o)
{
    const char *name = model_alias(o->model);
    ss_model_cfg cfg = ss_model_defaults(name);
    memcpy(cfg.patch, o->patch, sizeof cfg.patch);
    const ss_model_info *info = ss_model_find(name);
    if (info->dims == 2 && cfg.patch[0] != 1) {
        fprintf(stderr, "bench: %s is a 2-D model: --patch wants HxW\n", name);
        return 2;
    }
    int flags = (o->quiet ? SS_PLAN_QUIET : 0) | (o->ref ? SS_PLAN_REF : 0) |
                (o->no_fuse ? SS_PLAN_NO_FUSE : 0) | (o->nodes ? SS_PLAN_TIMING : 0);
    ss_graph *g = graph_new();
    ss_nn m;
    nn_begin(&m, g, 0, 0);
    const int *p = cfg.patch;
    int x = g_input(g, "image", ss_shape5(o->batch, cfg.in_ch, p[0], p[1], p[2]));
    ss_model_out out = {0};
    float *img = NULL;
    double *t = calloc((size_t)o->iters, sizeof(double));
    double *tc = calloc((size_t)o->iters, sizeof(double));
    int rc = 1;
    double t_build = now_s();
    if (!t || !tc || ss_model_build(&m, &cfg, x, &out) != SS_OK)
        goto fail;
    for (int k = 0; k < out.n; k++)
        graph_keep(g, out.t[k]);
    if (graph_plan(g, ss_backend_cpu(), flags, stderr) != SS_OK || nn_init_params(&m) != SS_OK)
        goto fail;
    size_t nv = (size_t)o->batch * (size_t)cfg.in_ch * (size_t)p[0] * p[1] * p[2];
    img = malloc(nv * sizeof(float));
    if (!img) {
        ss_seterr("out of memory for a batch of %zu voxels", nv);
        goto fail;
    }
    for (size_t i = 0; i < nv; i++)
        img[i] = 2.f * ss_rng_uniform(7, 1, 0, i) - 1.f;
    if (graph_upload(g, x, img) != SS_OK || graph_run(g) != SS_OK) /* warm-up */
        goto fail;
    t_build = now_s() - t_build;
    if (o->nodes)
        graph_reset_timing(g);
    for (int it = 0; it < o->iters; it++) {
        double t0 = now_s(), c0 = cpu_s();
        if (graph_upload(g, x, img) != SS_OK || graph_run(g) != SS_OK)
            goto fail;
        t[it] = now_s() - t0;
        tc[it] = cpu_s() - c0;
    }
    double flops = graph_flops(g), mt = median(t, o->iters), mc = median(tc, o->iters);
    printf("model %s batch %d patch %dx%dx%d threads %d path %s%s (inference, eval mode)\n", name,
           o->batch, p[0], p[1], p[2], omp_get_max_threads(), o->ref ? "reference" : "fast",
           o->ref ? "" : o->no_fuse ? ", unfused" : ", fused");
    printf("infer_ms %.1f  (median of %d, min %.1f)\n", 1e3 * mt, o->iters,
           1e3 * t[0]); /* t is sorted by median() */
    printf("cpu_ms %.1f  (process CPU time per run, median; all threads)\n", 1e3 * mc);
    printf("activations_mib %.1f  fused_nodes %d  peak_rss_mib %.1f\n",
           (double)graph_peak_bytes(g) / (1024.0 * 1024.0), graph_n_fused(g), peak_rss_mib());
    printf("gflop_per_run %.2f  achieved_gflops %.2f  (first run incl. set-up %.2f s)\n",
           flops * 1e-9, flops * 1e-9 / mt, t_build);
    if (o->nodes)
        graph_print_timing(g, stdout);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "bench: %s\n", semiseg_error());
done:
    free(t);
    free(tc);
    free(img);
    nn_end(&m);
    graph_free(g);
    return rc;
}

static int parse_patch(const char *s, int p[3])
{
    int a, b, c;
    char tail;
    if (sscanf(s, "%dx%dx%d%c", &a, &b, &c, &tail) == 3) {
        p[0] = a;
        p[1] = b;
        p[2] = c;
    } else if (sscanf(s, "%dx%d%c", &a, &b, &tail) == 2) {
        p[0] = 1;
        p[1] = a;
        p[2] = b;
    } else {
        return -1;
    }
    return p[0] >= 1 && p[1] >= 1 && p[2] >= 1 ? 0 : -1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: semiseg bench step [--model M] [--batch B] [--patch DxHxW|HxW] [--iters N]\n"
            "                          [--threads T] [--ref] [--quiet] [--nodes]\n"
            "       semiseg bench ops  [same options]\n"
            "       semiseg bench peak [--threads T]\n"
            "       semiseg bench infer [--model M] [--batch B] [--patch ..] [--iters N]\n"
            "                           [--threads T] [--ref] [--no-fuse] [--quiet] [--nodes]\n"
            "step: median ms of a training step (forward, CE on head 1, backward, SGD momentum\n"
            "      0.9 wd 1e-4) after one warm-up step, peak RSS, achieved GFLOP/s.\n"
            "ops:  per-op and direction ms, GFLOP/s and %% of the FP32 peak of an FMA loop.\n"
            "      GFLOP counts are the direct algorithm's (a convolution: 2 x taps x\n"
            "      C_in x C_out per output voxel), also where the Winograd path does\n"
            "      fewer multiplies, so such layers can show more than 100 %% of the peak.\n"
            "--model: a registry name or vnet, mcnet2 (MC-Net), mcnet3 (MC-Net+), fbanet,\n"
            "         unet2d (default vnet); --batch 2; --patch 64x64x48 (2-D default 256x256);\n"
            "--iters 5; --threads: OpenMP threads (default: OMP_NUM_THREADS or all cores);\n"
            "--ref: reference kernels only; --nodes (ops, infer): also the per-node table.\n"
            "infer: median ms of one eval-mode forward pass (no backward) after one warm-up\n"
            "      run, planned activation MiB, fused conv+bn(+act) nodes; --no-fuse: plan\n"
            "      it without the inference fusion.\n");
}

int ss_cmd_bench(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "step") && strcmp(sub, "ops") && strcmp(sub, "peak") && strcmp(sub, "infer")) {
        fprintf(stderr, "bench: unknown subcommand '%s' (step, ops, peak or infer; see --help)\n",
                sub);
        return 2;
    }
    bopts o = {.model = "vnet", .batch = 2, .patch = {0, 0, 0}, .iters = 5, .threads = 0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--ref")) {
            o.ref = 1;
        } else if (!strcmp(a, "--quiet")) {
            o.quiet = 1;
        } else if (!strcmp(a, "--nodes")) {
            o.nodes = 1;
        } else if (!strcmp(a, "--no-fuse")) {
            o.no_fuse = 1;
        } else if (!v) {
            fprintf(stderr, "bench: option '%s' needs a value (see --help)\n", a);
            return 2;
        } else if (!strcmp(a, "--model")) {
            o.model = v;
            i++;
        } else if (!strcmp(a, "--batch") || !strcmp(a, "--iters") || !strcmp(a, "--threads")) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 100000) {
                fprintf(stderr, "bench: %s wants a positive integer, got '%s'\n", a, v);
                return 2;
            }
            *(!strcmp(a, "--batch") ? &o.batch : !strcmp(a, "--iters") ? &o.iters : &o.threads) = (int)n;
            i++;
        } else if (!strcmp(a, "--patch")) {
            if (parse_patch(v, o.patch)) {
                fprintf(stderr, "bench: --patch wants DxHxW or HxW with sizes >= 1, got '%s'\n", v);
                return 2;
            }
            i++;
        } else {
            fprintf(stderr, "bench: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (o.threads)
        omp_set_num_threads(o.threads);
    if (!strcmp(sub, "peak")) {
        printf("fp32_peak_gflops %.1f  (threads %d)\n", fp32_peak(omp_get_max_threads()),
               omp_get_max_threads());
        return 0;
    }
    if (!ss_model_find(model_alias(o.model))) {
        fprintf(stderr, "bench: unknown model '%s' (semiseg export --help lists them; short names "
                        "vnet, mcnet2, mcnet3, fbanet, unet2d)\n", o.model);
        return 2;
    }
    if (!o.patch[0]) {
        const ss_model_info *info = ss_model_find(model_alias(o.model));
        if (info && info->dims == 2) {
            o.patch[0] = 1;
            o.patch[1] = o.patch[2] = 256;
        } else {
            o.patch[0] = o.patch[1] = 64;
            o.patch[2] = 48;
        }
    }
    if (!strcmp(sub, "infer"))
        return cmd_infer(&o);
    return cmd_step(&o, !strcmp(sub, "ops"));
}
