/* Suite infer: sliding-window start lists worked out by hand for LA and
 * Pancreas shapes, the windows a model actually receives (positions, zero
 * padding, batching), and identity "models" (probabilities = the input)
 * recovering the input exactly through the 3-D and the 2-D path. All checks
 * are exact (labels and window positions are integers; averaging up to 128
 * copies of one float in double is exact). */
#include "harness/infer.h"
#include "harness/zoom.h"
#include "kernels/error.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expect_starts(int size, int patch, int stride, const int *want, int n)
{
    int got[64];
    int m = ss_window_starts(size, patch, stride, got, 64);
    ck_assert_msg(m == n, "size %d patch %d stride %d: %d windows, want %d", size, patch, stride,
                  m, n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "size %d patch %d stride %d: start %d is %d, want %d",
                      size, patch, stride, i, got[i], want[i]);
}

START_TEST(window_starts_la)
{
    /* LA case 175x132x88, patch 112x112x80, strides 18/18/4:
     * 175: ceil(63/18)+1 = 5 -> 0 18 36 54 min(72,63)=63
     * 132: ceil(20/18)+1 = 3 -> 0 18 min(36,20)=20
     *  88: ceil(8/4)+1   = 3 -> 0 4 8          => 5*3*3 = 45 windows */
    expect_starts(175, 112, 18, (const int[]){0, 18, 36, 54, 63}, 5);
    expect_starts(132, 112, 18, (const int[]){0, 18, 20}, 3);
    expect_starts(88, 80, 4, (const int[]){0, 4, 8}, 3);
    /* LA extremes: 244 -> ceil(132/18)+1 = 9; 148 -> ceil(36/18)+1 = 3 (exact multiple) */
    expect_starts(244, 112, 18, (const int[]){0, 18, 36, 54, 72, 90, 108, 126, 132}, 9);
    expect_starts(148, 112, 18, (const int[]){0, 18, 36}, 3);
    expect_starts(112, 112, 18, (const int[]){0}, 1);
}
END_TEST

START_TEST(window_starts_pancreas)
{
    /* Pancreas 225x159x310, patch 96, strides 16:
     * 225: ceil(129/16)+1 = 10 -> 0..128 step 16, then min(144,129)=129
     * 159: ceil(63/16)+1  = 5  -> 0 16 32 48 min(64,63)=63
     * 310: ceil(214/16)+1 = 15 -> 0..208 step 16, then min(224,214)=214 */
    expect_starts(225, 96, 16, (const int[]){0, 16, 32, 48, 64, 80, 96, 112, 128, 129}, 10);
    expect_starts(159, 96, 16, (const int[]){0, 16, 32, 48, 63}, 5);
    expect_starts(310, 96, 16,
                  (const int[]){0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 214},
                  15);
    expect_starts(145, 96, 16, (const int[]){0, 16, 32, 48, 49}, 5);
    ck_assert_int_eq(ss_window_starts(95, 96, 16, NULL, 0), -1);
    ck_assert_int_eq(ss_window_starts(100, 96, 0, NULL, 0), -1);
}
END_TEST

/* ---- models ----------------------------------------------------------------- */

/* Identity: K = 2 -> p1 = x0, p0 = 1 - x0; K > 2 -> p_k = x_k (C = K). */
typedef struct {
    int K;
    int calls, windows, max_n;
} ident_ctx;

static int ident(void *vctx, int n, const int s[4], const float *x, float *prob)
{
    ident_ctx *c = vctx;
    long vol = (long)s[1] * s[2] * s[3];
    c->calls++;
    c->windows += n;
    if (n > c->max_n)
        c->max_n = n;
    for (int b = 0; b < n; b++) {
        const float *xi = x + (long)b * s[0] * vol;
        float *p = prob + (long)b * c->K * vol;
        for (long i = 0; i < vol; i++) {
            if (c->K == 2) {
                p[i] = 1.0f - xi[i];
                p[vol + i] = xi[i];
            } else {
                for (int k = 0; k < c->K; k++)
                    p[(long)k * vol + i] = xi[(long)k * vol + i];
            }
        }
    }
    return 0;
}

static ss_volume make_vol(int c, int d, int h, int w)
{
    ss_volume v;
    memset(&v, 0, sizeof v);
    snprintf(v.id, sizeof v.id, "test");
    v.c = c, v.d = d, v.h = h, v.w = w;
    v.image = calloc((size_t)c * d * h * w, sizeof(float));
    ck_assert(v.image);
    v.spacing[0] = v.spacing[1] = v.spacing[2] = 1.0;
    return v;
}

static unsigned lcg(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

START_TEST(identity_3d_binary)
{
    /* shapes: plain, one axis smaller than the patch (padding), LA-like ratio */
    const int shapes[3][3] = {{20, 17, 23}, {6, 19, 13}, {25, 18, 12}};
    const ss_infer_opts o = {3, {8, 10, 12}, {3, 4, 5}, 2, 4, 0};
    unsigned seed = 99;
    for (int si = 0; si < 3; si++) {
        const int *d = shapes[si];
        ss_volume v = make_vol(1, d[0], d[1], d[2]);
        const long n = (long)v.d * v.h * v.w;
        ck_assert(n > 0);
        for (long i = 0; i < n; i++) {
            float u = (float)(lcg(&seed) % 1000) / 1000.0f;
            v.image[i] = u == 0.5f ? 0.25f : u;
        }
        uint8_t *pred = malloc((size_t)n);
        ident_ctx c = {2, 0, 0, 0};
        ck_assert_msg(ss_infer_volume(&o, &v, ident, &c, pred) == 0, "%s", semiseg_error());
        for (long i = 0; i < n; i++)
            ck_assert_msg(pred[i] == (v.image[i] > 0.5f), "shape %d voxel %ld: %d for %g", si, i,
                          pred[i], v.image[i]);
        /* windows: product of per-axis counts on the padded size, batches of <= 4 */
        int want = 1;
        for (int a = 0; a < 3; a++) {
            int sz = d[a] > o.patch[a] ? d[a] : o.patch[a];
            want *= ss_window_starts(sz, o.patch[a], o.stride[a], NULL, 0);
        }
        ck_assert_int_eq(c.windows, want);
        ck_assert_int_le(c.max_n, 4);
        ck_assert_int_eq(c.calls, (want + 3) / 4);
        free(pred);
        ss_volume_free(&v);
    }
}
END_TEST

START_TEST(identity_3d_multiclass_and_lcc)
{
    const int K = 4, d[3] = {14, 11, 16};
    const ss_infer_opts o = {3, {8, 8, 8}, {4, 3, 5}, K, 3, 0};
    ss_volume v = make_vol(K, d[0], d[1], d[2]);
    long n = (long)d[0] * d[1] * d[2];
    unsigned seed = 5;
    uint8_t *want = malloc((size_t)n), *pred = malloc((size_t)n);
    for (long i = 0; i < n; i++) {
        int best = (int)(lcg(&seed) % K);
        float sum = 0;
        for (int k = 0; k < K; k++) {
            float p = k == best ? 0.5f : (float)(lcg(&seed) % 100) / 400.0f;
            v.image[(long)k * n + i] = p;
            sum += p;
        }
        (void)sum;
        want[i] = (uint8_t)best;
    }
    ident_ctx c = {K, 0, 0, 0};
    ck_assert_msg(ss_infer_volume(&o, &v, ident, &c, pred) == 0, "%s", semiseg_error());
    ck_assert(!memcmp(pred, want, (size_t)n));
    ss_volume_free(&v);

    /* LCC on: two foreground blobs, the smaller one disappears */
    ss_infer_opts ol = {3, {8, 8, 8}, {4, 4, 4}, 2, 2, 1};
    v = make_vol(1, d[0], d[1], d[2]);
    for (int z = 0; z < d[0]; z++)
        for (int y = 0; y < d[1]; y++)
            for (int x = 0; x < d[2]; x++) {
                int big = z >= 2 && z < 9 && y >= 1 && y < 7 && x >= 1 && x < 8;
                int small = z >= 11 && y >= 8 && x >= 12;
                v.image[((long)z * d[1] + y) * d[2] + x] = big || small ? 0.9f : 0.1f;
                want[((long)z * d[1] + y) * d[2] + x] = (uint8_t)big;
            }
    ident_ctx c2 = {2, 0, 0, 0};
    ck_assert_msg(ss_infer_volume(&ol, &v, ident, &c2, pred) == 0, "%s", semiseg_error());
    ck_assert(!memcmp(pred, want, (size_t)n));
    ss_volume_free(&v);
    free(want);
    free(pred);
}
END_TEST

/* Records the window origin of every input patch from an image whose voxel
 * value is 1 + its linear index (0 = padding). */
typedef struct {
    int dims[3], before[3];
    int n;
    int starts[256][3];
    int bad;
} rec_ctx;

static int recorder(void *vctx, int n, const int s[4], const float *x, float *prob)
{
    rec_ctx *c = vctx;
    long vol = (long)s[1] * s[2] * s[3];
    for (int b = 0; b < n; b++) {
        const float *xi = x + (long)b * vol;
        /* the first non-padding voxel of the patch locates it */
        long first = -1;
        for (long i = 0; i < vol && first < 0; i++)
            if (xi[i] != 0.0f)
                first = i;
        ck_assert(first >= 0);
        long lin = (long)xi[first] - 1;
        int vz = (int)(lin / ((long)c->dims[1] * c->dims[2])), vy = (int)(lin / c->dims[2] % c->dims[1]),
            vx = (int)(lin % c->dims[2]);
        int pz = (int)(first / ((long)s[2] * s[3])), py = (int)(first / s[3] % s[2]),
            px = (int)(first % s[3]);
        /* padded-grid origin of the window */
        int o[3] = {vz + c->before[0] - pz, vy + c->before[1] - py, vx + c->before[2] - px};
        /* every voxel of the patch must be the padded image at o + offset */
        for (long i = 0; i < vol; i++) {
            int z = (int)(i / ((long)s[2] * s[3])) + o[0] - c->before[0];
            int y = (int)(i / s[3] % s[2]) + o[1] - c->before[1];
            int xx = (int)(i % s[3]) + o[2] - c->before[2];
            int inside = z >= 0 && z < c->dims[0] && y >= 0 && y < c->dims[1] && xx >= 0 &&
                         xx < c->dims[2];
            float want = inside ? (float)(((long)z * c->dims[1] + y) * c->dims[2] + xx + 1) : 0.0f;
            c->bad += xi[i] != want;
        }
        ck_assert_int_lt(c->n, 256);
        memcpy(c->starts[c->n++], o, sizeof o);
        for (long i = 0; i < 2 * vol; i++)
            prob[(long)b * 2 * vol + i] = 0.5f;
    }
    return 0;
}

START_TEST(window_positions_and_padding)
{
    /* D 5 < patch 8 (padded 1 before, 2 after); H 21, W 30 */
    const int d[3] = {5, 21, 30};
    const ss_infer_opts o = {3, {8, 10, 12}, {3, 6, 7}, 2, 5, 0};
    ss_volume v = make_vol(1, d[0], d[1], d[2]);
    long n = (long)d[0] * d[1] * d[2];
    for (long i = 0; i < n; i++)
        v.image[i] = (float)(i + 1);
    rec_ctx c;
    memset(&c, 0, sizeof c);
    memcpy(c.dims, d, sizeof c.dims);
    c.before[0] = 1;
    uint8_t *pred = malloc((size_t)n);
    ck_assert_msg(ss_infer_volume(&o, &v, recorder, &c, pred) == 0, "%s", semiseg_error());
    ck_assert_int_eq(c.bad, 0);
    /* hand-worked: D padded 8 -> {0}; H 21: ceil(11/6)+1 = 3 -> 0 6 11;
     * W 30: ceil(18/7)+1 = 4 -> 0 7 14 18; first axis outermost */
    const int hs[3] = {0, 6, 11}, ws[4] = {0, 7, 14, 18};
    ck_assert_int_eq(c.n, 12);
    for (int i = 0; i < 12; i++) {
        ck_assert_int_eq(c.starts[i][0], 0);
        ck_assert_int_eq(c.starts[i][1], hs[i / 4]);
        ck_assert_int_eq(c.starts[i][2], ws[i % 4]);
    }
    /* mean p1 = 0.5 exactly -> strict > 0.5 gives background everywhere */
    for (long i = 0; i < n; i++)
        ck_assert_int_eq(pred[i], 0);
    free(pred);
    ss_volume_free(&v);
}
END_TEST

/* ---- 2-D slice-wise ----------------------------------------------------------- */

/* p_k = [x0 == k] on the zoomed slice. */
static int onehot(void *vctx, int n, const int s[4], const float *x, float *prob)
{
    int K = *(int *)vctx;
    long vol = (long)s[1] * s[2] * s[3];
    ck_assert_int_eq(s[1], 1);
    for (int b = 0; b < n; b++)
        for (int k = 0; k < K; k++)
            for (long i = 0; i < vol; i++)
                prob[((long)b * K + k) * vol + i] = x[(long)b * s[0] * vol + i] == (float)k;
    return 0;
}

static void run_2d(int D, int H, int W, int ph, int pw, int batch)
{
    const int K = 4;
    ss_volume v = make_vol(1, D, H, W);
    long n = (long)D * H * W;
    unsigned seed = (unsigned)(H * 31 + W);
    for (long i = 0; i < n; i++)
        v.image[i] = (float)(lcg(&seed) % K);
    /* expected: zoom in then back through SciPy's index maps, composed here
     * from the per-axis source indices (-1 = cval 0) */
    int *fy = malloc(sizeof(int) * ph), *fx = malloc(sizeof(int) * pw);
    int *by = malloc(sizeof(int) * H), *bx = malloc(sizeof(int) * W);
    ss_zoom_axis_index(H, ph, fy);
    ss_zoom_axis_index(W, pw, fx);
    ss_zoom_axis_index(ph, H, by);
    ss_zoom_axis_index(pw, W, bx);
    uint8_t *want = malloc((size_t)n), *pred = malloc((size_t)n);
    int exact = 1;
    for (int z = 0; z < D; z++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int yy = by[y] < 0 ? -1 : fy[by[y]], xx = bx[x] < 0 ? -1 : fx[bx[x]];
                long i = ((long)z * H + y) * W + x;
                want[i] = yy < 0 || xx < 0 ? 0 : (uint8_t)v.image[((long)z * H + yy) * W + xx];
                exact &= yy == y && xx == x;
            }
    ss_infer_opts o = {2, {1, ph, pw}, {0, 0, 0}, K, batch, 0};
    int k = K;
    ck_assert_msg(ss_infer_volume(&o, &v, onehot, &k, pred) == 0, "%s", semiseg_error());
    for (long i = 0; i < n; i++)
        ck_assert_msg(pred[i] == want[i], "%dx%dx%d -> %dx%d voxel %ld: %d want %d", D, H, W, ph,
                      pw, i, pred[i], want[i]);
    if (exact) /* the round trip is the identity: the input itself comes back */
        for (long i = 0; i < n; i++)
            ck_assert_int_eq(pred[i], (int)v.image[i]);
    free(fy), free(fx), free(by), free(bx), free(want), free(pred);
    ss_volume_free(&v);
}

START_TEST(identity_2d)
{
    /* ACDC-like slices smaller than 256: zoom in and back is the identity */
    run_2d(3, 216, 256, 256, 256, 2);
    run_2d(2, 154, 181, 256, 256, 1);
    {
        int fy[256], by[154];
        ss_zoom_axis_index(154, 256, fy);
        ss_zoom_axis_index(256, 154, by);
        for (int y = 0; y < 154; y++)
            ck_assert_int_eq(fy[by[y]], y); /* precondition of the exactness claim */
    }
    /* larger than the input (pixels are lost) and SciPy's cval edge */
    run_2d(2, 300, 40, 64, 80, 3);
    run_2d(1, 16, 31, 80, 80, 1);
}
END_TEST

START_TEST(infer_bad_options)
{
    ss_volume v = make_vol(1, 4, 4, 4);
    uint8_t pred[64];
    ident_ctx c = {2, 0, 0, 0};
    ss_infer_opts o = {3, {4, 4, 4}, {0, 1, 1}, 2, 1, 0};
    ck_assert_int_eq(ss_infer_volume(&o, &v, ident, &c, pred), -1);
    ck_assert_msg(strstr(semiseg_error(), "stride[0]"), "%s", semiseg_error());
    o.stride[0] = 1;
    o.dims = 4;
    ck_assert_int_eq(ss_infer_volume(&o, &v, ident, &c, pred), -1);
    o.dims = 3;
    o.classes = 1;
    ck_assert_int_eq(ss_infer_volume(&o, &v, ident, &c, pred), -1);
    ss_volume_free(&v);
}
END_TEST

Suite *suite_infer(void)
{
    Suite *s = suite_create("infer");
    TCase *t = tcase_create("core");
    tcase_add_test(t, window_starts_la);
    tcase_add_test(t, window_starts_pancreas);
    tcase_add_test(t, identity_3d_binary);
    tcase_add_test(t, identity_3d_multiclass_and_lcc);
    tcase_add_test(t, window_positions_and_padding);
    tcase_add_test(t, identity_2d);
    tcase_add_test(t, infer_bad_options);
    suite_add_tcase(s, t);
    return s;
}
