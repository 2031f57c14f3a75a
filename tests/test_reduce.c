/* SUM and MEAN over an axis mask: forward against a scatter-accumulate
 * formulation written here (the kernel gathers per output) for every mask
 * 0..31, hand values, backward by hand and by finite differences, bad masks
 * and FLOP counts. */
#include "kernels/error.h"
#include "kernels/op.h"
#include "testutil.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>


/* Independent reduction: every input element adds itself to its output. */
static void naive_reduce(const opc *o, int mean, float *want)
{
    const int mask = o->ip[0];
    const ss_shape *xs = &o->xs[0];
    int od[5];
    double count = 1;
    for (int i = 0; i < 5; i++) {
        od[i] = (mask >> i) & 1 ? 1 : xs->d[i];
        count *= (mask >> i) & 1 ? xs->d[i] : 1;
    }
    size_t ny = (size_t)od[0] * od[1] * od[2] * od[3] * od[4];
    double *acc = calloc(ny, sizeof(double));
    ck_assert_ptr_nonnull(acc);
    size_t k = 0;
    for (int n = 0; n < xs->d[0]; n++)
        for (int c = 0; c < xs->d[1]; c++)
            for (int d = 0; d < xs->d[2]; d++)
                for (int h = 0; h < xs->d[3]; h++)
                    for (int w = 0; w < xs->d[4]; w++, k++) {
                        int q[5] = {n, c, d, h, w};
                        size_t j = 0;
                        for (int i = 0; i < 5; i++)
                            j = j * (size_t)od[i] + (size_t)((mask >> i) & 1 ? 0 : q[i]);
                        acc[j] += o->x[0][k];
                    }
    for (size_t j = 0; j < ny; j++)
        want[j] = (float)(mean ? acc[j] / count : acc[j]);
    free(acc);
}

START_TEST(test_forward_all_masks)
{
    /* every mask 0..31, SUM and MEAN, 3-D and 2-D odd shapes. Both sides sum
     * in double and round once: atol 1e-6, rtol 1e-6. Mask 0 is an exact copy. */
    const ss_shape shapes[2] = {ss_shape5(3, 5, 3, 5, 7), ss_shape5(3, 5, 1, 5, 7)};
    for (int si = 0; si < 2; si++)
        for (int mean = 0; mean < 2; mean++)
            for (int mask = 0; mask < 32; mask++) {
                const int ip[1] = {mask};
                opc o;
                TU_OK(opc_init(&o, mean ? SS_OP_MEAN : SS_OP_SUM, ip, 1, NULL, 0, 1,
                               &shapes[si]));
                for (int i = 0; i < 5; i++)
                    ck_assert_int_eq(o.ys[0].d[i], (mask >> i) & 1 ? 1 : shapes[si].d[i]);
                opc_randomize(&o, -1.f, 1.f, 5 + si);
                TU_OK(opc_fwd(&o, 1));
                size_t n = (size_t)ss_numel(&o.ys[0]);
                float *want = tu_alloc(n);
                naive_reduce(&o, mean, want);
                TU_ASSERT_CLOSE(o.y[0], want, n, 1e-6, 1e-6);
                if (mask == 0)
                    TU_ASSERT_CLOSE(o.y[0], o.x[0], n, 0.0, 0.0);
                free(want);
                opc_free(&o);
            }
}
END_TEST

START_TEST(test_forward_hand_values)
{
    /* x (1,2,1,1,3) = [[1,2,3],[4,5,6]]; exact */
    ss_shape xs = ss_shape5(1, 2, 1, 1, 3);
    const float x[6] = {1, 2, 3, 4, 5, 6};
    struct {
        int kind, mask;
        size_t n;
        float want[3];
    } cases[] = {
        {SS_OP_SUM, 2, 3, {5, 7, 9}},   {SS_OP_SUM, 16, 2, {6, 15}},
        {SS_OP_SUM, 31, 1, {21}},       {SS_OP_SUM, 18, 1, {21}},
        {SS_OP_MEAN, 31, 1, {3.5f}},    {SS_OP_MEAN, 16, 2, {2, 5}},
        {SS_OP_MEAN, 2, 3, {2.5f, 3.5f, 4.5f}}, {SS_OP_SUM, 1 | 4 | 8, 6, {1, 2, 3}},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const int ip[1] = {cases[t].mask};
        opc o;
        TU_OK(opc_init(&o, cases[t].kind, ip, 1, NULL, 0, 1, &xs));
        ck_assert_uint_eq((size_t)ss_numel(&o.ys[0]), cases[t].n);
        memcpy(o.x[0], x, sizeof x);
        TU_OK(opc_fwd(&o, 1));
        /* masks over size-1 dims only are copies */
        TU_ASSERT_CLOSE(o.y[0], cases[t].n == 6 ? x : cases[t].want, cases[t].n, 0.0, 0.0);
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_backward)
{
    /* by hand: MEAN over all of (2,3,2,1,2) gives gy/24 everywhere; SUM over
     * C gives gy[n,0,d,h,w] at every c. Exact. */
    ss_shape xs = ss_shape5(2, 3, 2, 1, 2);
    const int all[1] = {31}, c_only[1] = {2};
    opc o;
    TU_OK(opc_init(&o, SS_OP_MEAN, all, 1, NULL, 0, 1, &xs));
    float g1[1] = {3.f}, *gx[SS_MAX_IN] = {tu_alloc(24)};
    TU_OK(opc_bwd(&o, g1, gx, 1u));
    for (int i = 0; i < 24; i++)
        ck_assert_float_eq(gx[0][i], (float)(3.0 / 24.0));
    opc_free(&o);
    TU_OK(opc_init(&o, SS_OP_SUM, c_only, 1, NULL, 0, 1, &xs));
    float g8[8];
    for (int i = 0; i < 8; i++)
        g8[i] = (float)(i + 1);
    TU_OK(opc_bwd(&o, g8, gx, 1u));
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 3; c++)
            for (int v = 0; v < 4; v++)
                ck_assert_float_eq(gx[0][(n * 3 + c) * 4 + v], g8[n * 4 + v]);
    free(gx[0]);
    opc_free(&o);

    /* finite differences, linear ops: eps 1e-2, atol 1e-3, rtol 1e-2 */
    const int masks[7] = {0, 1, 2, 5, 26, 16, 31};
    for (int mean = 0; mean < 2; mean++)
        for (int m = 0; m < 7; m++) {
            const int ip[1] = {masks[m]};
            TU_OK(opc_init(&o, mean ? SS_OP_MEAN : SS_OP_SUM, ip, 1, NULL, 0, 1, &xs));
            opc_randomize(&o, -1.f, 1.f, 50 + m);
            TU_GRADCHECK(&o, 1u, 1e-2, 1e-3, 1e-2);
            opc_free(&o);
        }
}
END_TEST

START_TEST(test_large_parallel_path)
{
    /* above the parallel threshold (32768 inputs): (2,4,8,32,33) over D,H,W
     * (8 outputs of 8448) and over N (33792 outputs); atol 1e-5, rtol 1e-6 */
    ss_shape xs = ss_shape5(2, 4, 8, 32, 33);
    const int masks[2] = {4 | 8 | 16, 1};
    for (int m = 0; m < 2; m++)
        for (int mean = 0; mean < 2; mean++) {
            const int ip[1] = {masks[m]};
            opc o;
            TU_OK(opc_init(&o, mean ? SS_OP_MEAN : SS_OP_SUM, ip, 1, NULL, 0, 1, &xs));
            opc_randomize(&o, -1.f, 1.f, 60 + m);
            TU_OK(opc_fwd(&o, 1));
            size_t n = (size_t)ss_numel(&o.ys[0]);
            float *want = tu_alloc(n);
            naive_reduce(&o, mean, want);
            TU_ASSERT_CLOSE(o.y[0], want, n, 1e-5, 1e-6);
            free(want);
            opc_free(&o);
        }
}
END_TEST

START_TEST(test_bad_inputs)
{
    ss_shape xs[2] = {ss_shape5(2, 3, 1, 2, 2), ss_shape5(2, 3, 1, 2, 2)};
    ss_shape zero = ss_shape5(2, 3, 1, 0, 2);
    static const int kinds[2] = {SS_OP_SUM, SS_OP_MEAN};
    static const char *names[2] = {"sum", "mean"};
    const int bad_masks[3] = {32, -1, 64};
    for (int k = 0; k < 2; k++) {
        opc o;
        for (int b = 0; b < 3; b++) {
            const int ip[1] = {bad_masks[b]};
            ck_assert_int_eq(opc_init(&o, kinds[k], ip, 1, NULL, 0, 1, xs), SS_ERR);
            ck_assert_ptr_nonnull(strstr(semiseg_error(), names[k]));
            ck_assert_ptr_nonnull(strstr(semiseg_error(), "(2,3,1,2,2)"));
            opc_free(&o);
        }
        const int ok[1] = {31};
        ck_assert_int_eq(opc_init(&o, kinds[k], ok, 1, NULL, 0, 1, &zero), SS_ERR);
        ck_assert_ptr_nonnull(strstr(semiseg_error(), names[k]));
        opc_free(&o);
        ck_assert_int_eq(opc_init(&o, kinds[k], ok, 1, NULL, 0, 2, xs), SS_ERR);
        ck_assert_ptr_nonnull(strstr(semiseg_error(), names[k]));
        opc_free(&o);
    }
}
END_TEST

START_TEST(test_flops)
{
    /* SUM: one add per input element; MEAN: plus one divide per output.
     * (3,5,1,5,7) over C: 525 inputs, 105 outputs. */
    ss_shape xs = ss_shape5(3, 5, 1, 5, 7);
    const int ip[1] = {2};
    opc o;
    TU_OK(opc_init(&o, SS_OP_SUM, ip, 1, NULL, 0, 1, &xs));
    ck_assert_double_eq(opc_flops(&o), 525.0);
    opc_free(&o);
    TU_OK(opc_init(&o, SS_OP_MEAN, ip, 1, NULL, 0, 1, &xs));
    ck_assert_double_eq(opc_flops(&o), 630.0);
    opc_free(&o);
    ck_assert_uint_eq(ss_op_get(SS_OP_SUM)->diff_mask, 1u);
    ck_assert_uint_eq(ss_op_get(SS_OP_MEAN)->diff_mask, 1u);
}
END_TEST

Suite *suite_reduce(void)
{
    Suite *s = suite_create("reduce");
    TCase *tc = tcase_create("reduce");
    tcase_add_test(tc, test_forward_all_masks);
    tcase_add_test(tc, test_forward_hand_values);
    tcase_add_test(tc, test_backward);
    tcase_add_test(tc, test_large_parallel_path);
    tcase_add_test(tc, test_bad_inputs);
    tcase_add_test(tc, test_flops);
    suite_add_tcase(s, tc);
    return s;
}
