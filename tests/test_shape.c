/* CONCAT and SLICE: forward against per-element coordinate gathers written
 * here (the kernels copy blocks), the round trip slice(concat) = pieces,
 * backward by hand and by finite differences, bad inputs and FLOP counts. */
#include "kernels/error.h"
#include "kernels/op.h"
#include "testutil.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>


static size_t flat(const ss_shape *s, const int q[5])
{
    size_t k = 0;
    for (int i = 0; i < 5; i++)
        k = k * (size_t)s->d[i] + (size_t)q[i];
    return k;
}

/* Next coordinate of s in row-major order; 0 after the last one. */
static int next_coord(const ss_shape *s, int q[5])
{
    for (int i = 4; i >= 0; i--) {
        if (++q[i] < s->d[i])
            return 1;
        q[i] = 0;
    }
    return 0;
}

/* Independent concat: every output coordinate finds its input along the axis. */
static void naive_concat(const opc *o, int ax, float *want)
{
    int q[5] = {0, 0, 0, 0, 0};
    do {
        int k = 0, pos = q[ax];
        while (pos >= o->xs[k].d[ax])
            pos -= o->xs[k++].d[ax];
        int r[5];
        memcpy(r, q, sizeof r);
        r[ax] = pos;
        want[flat(&o->ys[0], q)] = o->x[k][flat(&o->xs[k], r)];
    } while (next_coord(&o->ys[0], q));
}

/* ---- CONCAT ------------------------------------------------------------- */

START_TEST(test_concat_forward)
{
    /* exact: pure copies. Axis 1 and axis 0, 3-D and 2-D, 3 pieces; then 8. */
    for (int ax = 0; ax < 2; ax++)
        for (int dd = 0; dd < 2; dd++) {
            int D = dd ? 3 : 1;
            ss_shape xs[3];
            const int sizes[3] = {2, 5, 1};
            for (int k = 0; k < 3; k++) {
                xs[k] = ss_shape5(3, 5, D, 5, 7);
                xs[k].d[ax] = sizes[k];
            }
            const int ip[1] = {ax};
            opc o;
            TU_OK(opc_init(&o, SS_OP_CONCAT, ip, 1, NULL, 0, 3, xs));
            ck_assert_int_eq(o.ys[0].d[ax], 8);
            ck_assert_int_eq(o.ys[0].d[1 - ax], ax ? 3 : 5);
            opc_randomize(&o, -1.f, 1.f, 11 + ax);
            TU_OK(opc_fwd(&o, 1));
            size_t n = (size_t)ss_numel(&o.ys[0]);
            float *want = tu_alloc(n);
            naive_concat(&o, ax, want);
            TU_ASSERT_CLOSE(o.y[0], want, n, 0.0, 0.0);
            free(want);
            opc_free(&o);
        }
    ss_shape xs8[SS_MAX_IN];
    for (int k = 0; k < SS_MAX_IN; k++)
        xs8[k] = ss_shape5(1 + k % 3, 3, 1, 2, 3);
    const int ip0[1] = {0};
    opc o;
    TU_OK(opc_init(&o, SS_OP_CONCAT, ip0, 1, NULL, 0, SS_MAX_IN, xs8));
    ck_assert_int_eq(o.ys[0].d[0], 1 + 2 + 3 + 1 + 2 + 3 + 1 + 2);
    opc_randomize(&o, -1.f, 1.f, 13);
    TU_OK(opc_fwd(&o, 1));
    size_t n = (size_t)ss_numel(&o.ys[0]);
    float *want = tu_alloc(n);
    naive_concat(&o, 0, want);
    TU_ASSERT_CLOSE(o.y[0], want, n, 0.0, 0.0);
    free(want);
    opc_free(&o);
}
END_TEST

START_TEST(test_concat_backward)
{
    /* finite differences: eps 1e-2, atol 1e-3, rtol 1e-2 (linear op) */
    for (int ax = 0; ax < 2; ax++) {
        ss_shape xs[3] = {ss_shape5(2, 2, 1, 2, 3), ss_shape5(2, 2, 1, 2, 3),
                          ss_shape5(2, 2, 1, 2, 3)};
        xs[1].d[ax] = 1;
        xs[2].d[ax] = 3;
        const int ip[1] = {ax};
        opc o;
        TU_OK(opc_init(&o, SS_OP_CONCAT, ip, 1, NULL, 0, 3, xs));
        opc_randomize(&o, -1.f, 1.f, 21);
        TU_GRADCHECK(&o, 7u, 1e-2, 1e-3, 1e-2);
        /* by hand with only input 1 requested: exactly its part of gy */
        size_t ny = (size_t)ss_numel(&o.ys[0]), n1 = (size_t)ss_numel(&o.xs[1]);
        float *g = tu_alloc(ny), *gx[SS_MAX_IN] = {NULL, tu_alloc(n1), NULL};
        for (size_t i = 0; i < ny; i++)
            g[i] = (float)i;
        TU_OK(opc_bwd(&o, g, gx, 2u));
        int q[5] = {0, 0, 0, 0, 0};
        do {
            int r[5];
            memcpy(r, q, sizeof r);
            r[ax] += 2; /* input 1 starts after input 0's 2 entries */
            ck_assert_float_eq(gx[1][flat(&o.xs[1], q)], g[flat(&o.ys[0], r)]);
        } while (next_coord(&o.xs[1], q));
        free(g);
        free(gx[1]);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_concat_bad_inputs)
{
    opc o;
    const int ip1[1] = {1}, ip2[1] = {2}, ipm[1] = {-1};
    ss_shape ok[2] = {ss_shape5(2, 3, 1, 4, 4), ss_shape5(2, 5, 1, 4, 4)};
    /* N differs with axis 1 */
    ss_shape bad[2] = {ss_shape5(2, 3, 1, 4, 4), ss_shape5(3, 5, 1, 4, 4)};
    ck_assert_int_eq(opc_init(&o, SS_OP_CONCAT, ip1, 1, NULL, 0, 2, bad), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "concat"));
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "(3,5,1,4,4)"));
    opc_free(&o);
    /* spatial differs */
    bad[1] = ss_shape5(2, 5, 1, 4, 5);
    ck_assert_int_eq(opc_init(&o, SS_OP_CONCAT, ip1, 1, NULL, 0, 2, bad), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "concat"));
    opc_free(&o);
    /* C differs with axis 0 */
    const int ip0[1] = {0};
    ck_assert_int_eq(opc_init(&o, SS_OP_CONCAT, ip0, 1, NULL, 0, 2, ok), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "concat"));
    opc_free(&o);
    /* axis out of range */
    ck_assert_int_eq(opc_init(&o, SS_OP_CONCAT, ip2, 1, NULL, 0, 2, ok), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "concat"));
    opc_free(&o);
    ck_assert_int_eq(opc_init(&o, SS_OP_CONCAT, ipm, 1, NULL, 0, 2, ok), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "concat"));
    opc_free(&o);
    /* one input */
    ck_assert_int_eq(opc_init(&o, SS_OP_CONCAT, ip1, 1, NULL, 0, 1, ok), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "concat"));
    opc_free(&o);
    /* a zero dim */
    bad[1] = ss_shape5(2, 0, 1, 4, 4);
    ck_assert_int_eq(opc_init(&o, SS_OP_CONCAT, ip1, 1, NULL, 0, 2, bad), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "concat"));
    opc_free(&o);
    /* more than SS_MAX_IN inputs (the shape rule called directly) */
    ss_shape many[SS_MAX_IN + 1], out[SS_MAX_OUT];
    for (int k = 0; k <= SS_MAX_IN; k++)
        many[k] = ss_shape5(1, 2, 1, 2, 2);
    int n_out = 0, ip[SS_MAX_IP] = {1};
    float fp[SS_MAX_FP] = {0};
    ck_assert_int_eq(ss_op_get(SS_OP_CONCAT)->infer(ip, fp, SS_MAX_IN + 1, many, &n_out, out),
                     SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "concat"));
}
END_TEST

/* ---- SLICE -------------------------------------------------------------- */

START_TEST(test_slice_forward)
{
    /* exact against a coordinate gather; both axes, 3-D and 2-D, ranges at the
     * start, middle and end; and slicing a concat gives back its pieces */
    const int ranges[3][2] = {{0, 2}, {1, 3}, {3, 2}};
    for (int ax = 0; ax < 2; ax++)
        for (int dd = 0; dd < 2; dd++)
            for (int r = 0; r < 3; r++) {
                ss_shape xs = ss_shape5(5, 5, dd ? 3 : 1, 5, 7);
                const int ip[3] = {ax, ranges[r][0], ranges[r][1]};
                opc o;
                TU_OK(opc_init(&o, SS_OP_SLICE, ip, 3, NULL, 0, 1, &xs));
                ck_assert_int_eq(o.ys[0].d[ax], ranges[r][1]);
                opc_randomize(&o, -1.f, 1.f, 31 + r);
                TU_OK(opc_fwd(&o, 1));
                size_t n = (size_t)ss_numel(&o.ys[0]);
                float *want = tu_alloc(n);
                int q[5] = {0, 0, 0, 0, 0};
                do {
                    int s[5];
                    memcpy(s, q, sizeof s);
                    s[ax] += ranges[r][0];
                    want[flat(&o.ys[0], q)] = o.x[0][flat(&xs, s)];
                } while (next_coord(&o.ys[0], q));
                TU_ASSERT_CLOSE(o.y[0], want, n, 0.0, 0.0);
                free(want);
                opc_free(&o);
            }

    ss_shape parts[2] = {ss_shape5(3, 2, 1, 3, 5), ss_shape5(3, 3, 1, 3, 5)};
    const int ipc[1] = {1};
    opc c;
    TU_OK(opc_init(&c, SS_OP_CONCAT, ipc, 1, NULL, 0, 2, parts));
    opc_randomize(&c, -1.f, 1.f, 37);
    TU_OK(opc_fwd(&c, 1));
    for (int k = 0; k < 2; k++) {
        const int ip[3] = {1, k ? 2 : 0, parts[k].d[1]};
        opc s;
        TU_OK(opc_init(&s, SS_OP_SLICE, ip, 3, NULL, 0, 1, &c.ys[0]));
        memcpy(s.x[0], c.y[0], (size_t)ss_numel(&c.ys[0]) * sizeof(float));
        TU_OK(opc_fwd(&s, 1));
        TU_ASSERT_CLOSE(s.y[0], c.x[k], (size_t)ss_numel(&parts[k]), 0.0, 0.0);
        opc_free(&s);
    }
    opc_free(&c);
}
END_TEST

START_TEST(test_slice_backward)
{
    /* by hand: gy inside the range, zeros outside (gx starts as garbage) */
    for (int ax = 0; ax < 2; ax++) {
        ss_shape xs = ss_shape5(4, 5, 1, 2, 3);
        const int ip[3] = {ax, 1, 2};
        opc o;
        TU_OK(opc_init(&o, SS_OP_SLICE, ip, 3, NULL, 0, 1, &xs));
        size_t nx = (size_t)ss_numel(&xs), ny = (size_t)ss_numel(&o.ys[0]);
        float *g = tu_alloc(ny), *gx[SS_MAX_IN] = {tu_alloc(nx)};
        for (size_t i = 0; i < ny; i++)
            g[i] = 1.f + (float)i;
        for (size_t i = 0; i < nx; i++)
            gx[0][i] = -7.f;
        TU_OK(opc_bwd(&o, g, gx, 1u));
        int q[5] = {0, 0, 0, 0, 0};
        do {
            float want = 0.f;
            if (q[ax] >= 1 && q[ax] < 3) {
                int r[5];
                memcpy(r, q, sizeof r);
                r[ax] -= 1;
                want = g[flat(&o.ys[0], r)];
            }
            ck_assert_float_eq(gx[0][flat(&xs, q)], want);
        } while (next_coord(&xs, q));
        free(g);
        free(gx[0]);
        opc_free(&o);

        /* finite differences: eps 1e-2, atol 1e-3, rtol 1e-2 */
        ss_shape t = ss_shape5(3, 3, 2, 1, 2);
        const int ipt[3] = {ax, 1, 1};
        TU_OK(opc_init(&o, SS_OP_SLICE, ipt, 3, NULL, 0, 1, &t));
        opc_randomize(&o, -1.f, 1.f, 41);
        TU_GRADCHECK(&o, 1u, 1e-2, 1e-3, 1e-2);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_slice_bad_inputs)
{
    ss_shape xs[2] = {ss_shape5(4, 5, 1, 2, 3), ss_shape5(4, 5, 1, 2, 3)};
    const int bad[][3] = {
        {0, 3, 2},  /* 3 + 2 > 4 */
        {1, 0, 6},  /* 6 > 5 */
        {1, -1, 2}, /* negative start */
        {0, 0, 0},  /* empty */
        {2, 0, 1},  /* axis D not supported */
        {-1, 0, 1}, /* axis negative */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        opc o;
        ck_assert_int_eq(opc_init(&o, SS_OP_SLICE, bad[i], 3, NULL, 0, 1, xs), SS_ERR);
        ck_assert_ptr_nonnull(strstr(semiseg_error(), "slice"));
        ck_assert_ptr_nonnull(strstr(semiseg_error(), "(4,5,1,2,3)"));
        opc_free(&o);
    }
    opc o;
    const int ok[3] = {0, 0, 1};
    ck_assert_int_eq(opc_init(&o, SS_OP_SLICE, ok, 3, NULL, 0, 2, xs), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "slice"));
    opc_free(&o);
    ss_shape zero = ss_shape5(4, 5, 0, 2, 3);
    ck_assert_int_eq(opc_init(&o, SS_OP_SLICE, ok, 3, NULL, 0, 1, &zero), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "slice"));
    opc_free(&o);
    /* the whole axis is a valid slice */
    const int all[3] = {1, 0, 5};
    TU_OK(opc_init(&o, SS_OP_SLICE, all, 3, NULL, 0, 1, xs));
    opc_free(&o);
}
END_TEST

START_TEST(test_flops)
{
    /* data movement only: 0 FLOPs; every input differentiable */
    ss_shape xs[2] = {ss_shape5(3, 2, 1, 5, 7), ss_shape5(3, 4, 1, 5, 7)};
    const int ipc[1] = {1}, ips[3] = {1, 1, 2};
    opc o;
    TU_OK(opc_init(&o, SS_OP_CONCAT, ipc, 1, NULL, 0, 2, xs));
    ck_assert_double_eq(opc_flops(&o), 0.0);
    ck_assert_uint_eq(ss_op_get(SS_OP_CONCAT)->diff_mask, 0xffu);
    opc_free(&o);
    TU_OK(opc_init(&o, SS_OP_SLICE, ips, 3, NULL, 0, 1, xs + 1));
    ck_assert_double_eq(opc_flops(&o), 0.0);
    ck_assert_uint_eq(ss_op_get(SS_OP_SLICE)->diff_mask, 1u);
    opc_free(&o);
}
END_TEST

Suite *suite_shape(void)
{
    Suite *s = suite_create("shape");
    TCase *tc = tcase_create("shape");
    tcase_add_test(tc, test_concat_forward);
    tcase_add_test(tc, test_concat_backward);
    tcase_add_test(tc, test_concat_bad_inputs);
    tcase_add_test(tc, test_slice_forward);
    tcase_add_test(tc, test_slice_backward);
    tcase_add_test(tc, test_slice_bad_inputs);
    tcase_add_test(tc, test_flops);
    suite_add_tcase(s, tc);
    return s;
}
