/* Two-stream sampler (datasets/sampler.c) against a second, deliberately
 * plain implementation of the documented rule (build each epoch's labeled
 * permutation and its chain of unlabeled permutations in full, then cut the
 * epoch into batches), plus the reference's structural properties, seek /
 * resume equality and argument errors. Exact integer comparisons throughout. */
#include "datasets/dataset.h"

#include "kernels/error.h"
#include "kernels/rng.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* The documented permutation: Fisher-Yates from the identity, i = n-1..1,
 * k = floor(bits*(i+1)/2^32), bits = Philox(seed, stream, epoch, chain<<32 | i). */
static int *ref_perm(int n, uint64_t seed, uint32_t stream, uint64_t epoch, uint64_t chain)
{
    int *p = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < n; i++)
        p[i] = i;
    for (int i = n - 1; i > 0; i--) {
        uint64_t bits = ss_rng_bits(seed, stream, epoch, chain * 4294967296ull + (uint64_t)i);
        int k = (int)((bits * (uint64_t)(i + 1)) / 4294967296ull);
        int t = p[k];
        p[k] = p[i];
        p[i] = t;
    }
    return p;
}

#define STREAM_L 0x5A4D4C01u
#define STREAM_U 0x5A4D5502u

/* Expected rows of the first NB batches (nb*batch ints, malloc'd). */
static int *ref_batches(int nl, int ntot, int batch, int lbs, uint64_t seed, int nb)
{
    int *out = malloc(sizeof(int) * (size_t)nb * batch);
    ck_assert_ptr_nonnull(out);
    int len = nl / lbs, u = batch - lbs, nu = ntot - nl;
    int produced = 0;
    for (int e = 0; produced < nb; e++) {
        int *lp = ref_perm(nl, seed, STREAM_L, (uint64_t)e, 0);
        /* the epoch's unlabeled stream: concatenated fresh chain */
        int need = len * u;
        int *us = malloc(sizeof(int) * (size_t)(need > 0 ? need : 1));
        for (int got = 0, j = 0; got < need; j++) {
            int *q = ref_perm(nu, seed, STREAM_U, (uint64_t)e, (uint64_t)j);
            for (int i = 0; i < nu && got < need; i++)
                us[got++] = nl + q[i];
            free(q);
        }
        for (int b = 0; b < len && produced < nb; b++, produced++) {
            int *row = out + (size_t)produced * batch;
            for (int r = 0; r < lbs; r++)
                row[r] = lp[b * lbs + r];
            for (int r = 0; r < u; r++)
                row[lbs + r] = us[b * u + r];
        }
        free(us);
        free(lp);
    }
    return out;
}

typedef struct cfg {
    int nl, ntot, batch, lbs;
    uint64_t seed;
} cfg;

static const cfg k_cfgs[] = {
    {8, 80, 4, 2, 1337},      /* LA 10 %: 4 batches per epoch */
    {16, 80, 4, 2, 1337},     /* LA 20 % */
    {7, 10, 4, 2, 5},         /* odd labeled count (remainder dropped), chain wraps twice */
    {6, 62, 4, 2, 99},        /* Pancreas 10 % */
    {136, 1312, 24, 12, 1337},/* ACDC 7 patients */
    {5, 5, 2, 2, 3},          /* supervised: labeled_bs == batch, no unlabeled rows */
    {4, 4, 4, 4, 8},          /* one batch per epoch */
};
#define N_CFGS ((int)(sizeof k_cfgs / sizeof k_cfgs[0]))

START_TEST(test_sampler_matches_rule)
{
    const cfg *c = &k_cfgs[_i];
    int nb = 60;
    int *want = ref_batches(c->nl, c->ntot, c->batch, c->lbs, c->seed, nb);
    ss_sampler s;
    ck_assert_msg(ss_sampler_init(&s, c->nl, c->ntot, c->batch, c->lbs, c->seed) == 0, "%s",
                  semiseg_error());
    int rows[64];
    for (int b = 0; b < nb; b++) {
        ck_assert_int_eq(ss_sampler_next(&s, rows), 0);
        for (int r = 0; r < c->batch; r++)
            ck_assert_msg(rows[r] == want[b * c->batch + r],
                          "cfg %d batch %d row %d: got %d want %d", _i, b, r, rows[r],
                          want[b * c->batch + r]);
    }
    ck_assert_uint_eq(s.cursor, (uint64_t)nb);
    ss_sampler_free(&s);
    free(want);
}
END_TEST

START_TEST(test_sampler_structure)
{
    const cfg *c = &k_cfgs[_i];
    int len = c->nl / c->lbs, u = c->batch - c->lbs, nu = c->ntot - c->nl;
    ss_sampler s;
    ck_assert_int_eq(ss_sampler_init(&s, c->nl, c->ntot, c->batch, c->lbs, c->seed), 0);
    int *seen_l = calloc((size_t)c->ntot, sizeof(int));
    int *seen_u = calloc((size_t)c->ntot, sizeof(int));
    int rows[64];
    int first_rows_differ = 0, prev_first = -1;
    for (int e = 0; e < 12; e++) {
        memset(seen_l, 0, sizeof(int) * (size_t)c->ntot);
        memset(seen_u, 0, sizeof(int) * (size_t)c->ntot);
        int udraws = 0;
        for (int b = 0; b < len; b++) {
            ck_assert_int_eq(ss_sampler_next(&s, rows), 0);
            if (b == 0) {
                if (prev_first >= 0 && rows[0] != prev_first)
                    first_rows_differ = 1;
                prev_first = rows[0];
            }
            for (int r = 0; r < c->lbs; r++) {
                ck_assert_msg(rows[r] >= 0 && rows[r] < c->nl, "labeled slot holds row %d",
                              rows[r]);
                ck_assert_msg(!seen_l[rows[r]], "epoch %d repeats labeled row %d", e, rows[r]);
                seen_l[rows[r]] = 1;
            }
            for (int r = 0; r < u; r++) {
                int v = rows[c->lbs + r];
                ck_assert_msg(v >= c->nl && v < c->ntot, "unlabeled slot holds row %d", v);
                /* no repeats until the chain wraps: within each block of nu draws */
                if (udraws % nu == 0)
                    memset(seen_u, 0, sizeof(int) * (size_t)c->ntot);
                ck_assert_msg(!seen_u[v], "epoch %d repeats unlabeled row %d before the wrap", e,
                              v);
                seen_u[v] = 1;
                udraws++;
            }
        }
        int nlab = 0;
        for (int i = 0; i < c->nl; i++)
            nlab += seen_l[i];
        ck_assert_int_eq(nlab, len * c->lbs); /* a permutation minus the dropped remainder */
    }
    if (c->nl > 1)
        ck_assert_msg(first_rows_differ, "the first labeled row never changed over 12 epochs");
    free(seen_l);
    free(seen_u);
    ss_sampler_free(&s);
}
END_TEST

START_TEST(test_sampler_seek)
{
    const cfg *c = &k_cfgs[_i];
    int nb = 45;
    ss_sampler a;
    ck_assert_int_eq(ss_sampler_init(&a, c->nl, c->ntot, c->batch, c->lbs, c->seed), 0);
    int *all = malloc(sizeof(int) * (size_t)nb * c->batch);
    for (int b = 0; b < nb; b++)
        ck_assert_int_eq(ss_sampler_next(&a, all + b * c->batch), 0);
    const uint64_t cs[] = {0, 1, 3, 4, 7, 17, 44, 30, 2};
    int rows[64];
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        ss_sampler f;
        ck_assert_int_eq(ss_sampler_init(&f, c->nl, c->ntot, c->batch, c->lbs, c->seed), 0);
        ss_sampler_seek(&f, cs[k]);
        ck_assert_int_eq(ss_sampler_next(&f, rows), 0);
        ck_assert_int_eq(memcmp(rows, all + cs[k] * c->batch, sizeof(int) * c->batch), 0);
        ck_assert_uint_eq(f.cursor, cs[k] + 1);
        ss_sampler_free(&f);
        /* seeking the used sampler backwards and forwards too */
        ss_sampler_seek(&a, cs[k]);
        ck_assert_int_eq(ss_sampler_next(&a, rows), 0);
        ck_assert_int_eq(memcmp(rows, all + cs[k] * c->batch, sizeof(int) * c->batch), 0);
    }
    free(all);
    ss_sampler_free(&a);
}
END_TEST

START_TEST(test_sampler_seed_matters)
{
    ss_sampler a, b;
    ck_assert_int_eq(ss_sampler_init(&a, 16, 80, 4, 2, 1), 0);
    ck_assert_int_eq(ss_sampler_init(&b, 16, 80, 4, 2, 2), 0);
    int ra[4], rb[4], differ = 0;
    for (int i = 0; i < 20; i++) {
        ss_sampler_next(&a, ra);
        ss_sampler_next(&b, rb);
        differ += memcmp(ra, rb, sizeof ra) != 0;
    }
    ck_assert_int_gt(differ, 10);
    ss_sampler_free(&a);
    ss_sampler_free(&b);
}
END_TEST

START_TEST(test_sampler_errors)
{
    ss_sampler s;
    ck_assert_int_eq(ss_sampler_init(&s, 1, 80, 4, 2, 0), -1);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "labeled"));
    ck_assert_int_eq(ss_sampler_init(&s, 8, 9, 4, 2, 0), -1); /* 1 unlabeled row for 2 slots */
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "unlabeled"));
    ck_assert_int_eq(ss_sampler_init(&s, 8, 80, 2, 3, 0), -1);
    ck_assert_int_eq(ss_sampler_init(&s, 8, 80, 0, 0, 0), -1);
    ck_assert_int_eq(ss_sampler_init(&s, 9, 8, 2, 1, 0), -1);
    /* supervised needs no unlabeled rows */
    ck_assert_int_eq(ss_sampler_init(&s, 8, 8, 4, 4, 0), 0);
    ss_sampler_free(&s);
}
END_TEST

Suite *suite_sampler(void)
{
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("two_stream");
    tcase_add_loop_test(tc, test_sampler_matches_rule, 0, N_CFGS);
    tcase_add_loop_test(tc, test_sampler_structure, 0, N_CFGS);
    tcase_add_loop_test(tc, test_sampler_seek, 0, N_CFGS);
    tcase_add_test(tc, test_sampler_seed_matters);
    tcase_add_test(tc, test_sampler_errors);
    suite_add_tcase(s, tc);
    return s;
}
