/* Batch loader (datasets/loader.c) on a small synthetic LA twin written by
 * ss_synth_write into a temporary folder: batches are the documented pure
 * function of (seed, batch index) — equal to sampler rows + ss_dataset_load +
 * ss_augment(counter = b*batch + r, the loader's stream) computed here
 * directly — and identical for 1 and 3 workers, any prefetch depth, with and
 * without the case cache; seek(c) gives the (c+1)-th batch of a fresh run; a
 * read failure comes back as -1 with the reader's message. Exact comparisons. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include "datasets/dataset.h"

#include "kernels/error.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOADER_STREAM 0x4C4F4144u /* documented in datasets/loader.c */

static char g_root[64];
static ss_dataset *g_ds;

static void setup(void)
{
    strcpy(g_root, "/tmp/ss_test_loader_XXXXXX");
    ck_assert(mkdtemp(g_root));
    ck_assert_msg(ss_synth_write("synth-la", g_root, 11, 0.5) == 0, "%s", semiseg_error());
    ck_assert_msg(ss_dataset_open("synth-la", g_root, &g_ds) == 0, "%s", semiseg_error());
}

static void teardown(void)
{
    ss_dataset_close(g_ds);
    g_ds = NULL;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    ck_assert_int_eq(system(cmd), 0);
}

static ss_loader_opts opts(int workers, int prefetch, int cache)
{
    ss_loader_opts o;
    memset(&o, 0, sizeof o);
    o.labeled_rows = 4;
    o.batch = 4;
    o.labeled_bs = 2;
    o.patch[0] = 8;
    o.patch[1] = 16;
    o.patch[2] = 12;
    o.aug = SS_AUG_LA;
    o.seed = 1337;
    o.workers = workers;
    o.prefetch = prefetch;
    o.cache = cache;
    return o;
}

#define NP (8 * 16 * 12)
#define NB 10

/* Runs NB batches; returns images and labels (malloc'd). */
static void run(const ss_loader_opts *o, float **img, float **lab)
{
    ss_loader *l;
    ck_assert_msg(ss_loader_open(g_ds, o, &l) == 0, "%s", semiseg_error());
    *img = malloc(sizeof(float) * NB * 4 * NP);
    *lab = malloc(sizeof(float) * NB * 4 * NP);
    for (int b = 0; b < NB; b++) {
        ck_assert_uint_eq(ss_loader_cursor(l), (uint64_t)b);
        ck_assert_msg(ss_loader_next(l, *img + (size_t)b * 4 * NP, *lab + (size_t)b * 4 * NP) == 0,
                      "%s", semiseg_error());
    }
    ss_loader_close(l);
}

START_TEST(test_loader_matches_direct)
{
    ss_loader_opts o = opts(1, 1, 0);
    float *img, *lab;
    run(&o, &img, &lab);
    ss_sampler s;
    ck_assert_int_eq(ss_sampler_init(&s, 4, ss_dataset_count(g_ds, SS_SPLIT_TRAIN), 4, 2, 1337), 0);
    float wi[NP], wl[NP];
    for (int b = 0; b < NB; b++) {
        int rows[4];
        ck_assert_int_eq(ss_sampler_next(&s, rows), 0);
        for (int r = 0; r < 4; r++) {
            ss_volume v;
            ck_assert_int_eq(ss_dataset_load(g_ds, SS_SPLIT_TRAIN, rows[r], &v), 0);
            ck_assert_int_eq(ss_augment(SS_AUG_LA, o.patch, &v, 1337, LOADER_STREAM,
                                        (uint64_t)b * 4 + r, wi, wl),
                             0);
            ss_volume_free(&v);
            ck_assert_msg(memcmp(wi, img + ((size_t)b * 4 + r) * NP, sizeof wi) == 0,
                          "batch %d row %d image differs from the direct computation", b, r);
            ck_assert_msg(memcmp(wl, lab + ((size_t)b * 4 + r) * NP, sizeof wl) == 0,
                          "batch %d row %d label differs", b, r);
        }
    }
    ss_sampler_free(&s);
    free(img);
    free(lab);
}
END_TEST

START_TEST(test_loader_threads_invariant)
{
    ss_loader_opts o1 = opts(1, 1, 0), o3 = opts(3, 3, 0), o3c = opts(3, 2, 1);
    float *i1, *l1, *i3, *l3, *ic, *lc;
    run(&o1, &i1, &l1);
    run(&o3, &i3, &l3);
    run(&o3c, &ic, &lc);
    size_t n = sizeof(float) * NB * 4 * NP;
    ck_assert_msg(memcmp(i1, i3, n) == 0, "images differ between 1 and 3 workers");
    ck_assert_msg(memcmp(l1, l3, n) == 0, "labels differ between 1 and 3 workers");
    ck_assert_msg(memcmp(i1, ic, n) == 0, "images differ with the cache");
    ck_assert_msg(memcmp(l1, lc, n) == 0, "labels differ with the cache");
    /* labels hold class ids and the synthetic atrium shows up somewhere */
    int fg = 0;
    for (size_t q = 0; q < (size_t)NB * 4 * NP; q++) {
        ck_assert(l1[q] == 0.0f || l1[q] == 1.0f);
        fg += l1[q] == 1.0f;
    }
    ck_assert_int_gt(fg, 0);
    free(i1);
    free(l1);
    free(i3);
    free(l3);
    free(ic);
    free(lc);
}
END_TEST

START_TEST(test_loader_seek)
{
    ss_loader_opts o = opts(3, 2, 1);
    float *img, *lab;
    run(&o, &img, &lab);
    float bi[4 * NP], bl[4 * NP];
    const uint64_t cs[] = {0, 3, 7, 9, 1};
    ss_loader *used;
    ck_assert_int_eq(ss_loader_open(g_ds, &o, &used), 0);
    ck_assert_int_eq(ss_loader_next(used, bi, bl), 0);
    ck_assert_int_eq(ss_loader_next(used, bi, bl), 0);
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        ss_loader *l;
        ck_assert_int_eq(ss_loader_open(g_ds, &o, &l), 0);
        ck_assert_int_eq(ss_loader_seek(l, cs[k]), 0);
        ck_assert_uint_eq(ss_loader_cursor(l), cs[k]);
        ck_assert_int_eq(ss_loader_next(l, bi, bl), 0);
        ck_assert_uint_eq(ss_loader_cursor(l), cs[k] + 1);
        ck_assert_msg(memcmp(bi, img + cs[k] * 4 * NP, sizeof bi) == 0, "seek %llu image",
                      (unsigned long long)cs[k]);
        ck_assert_msg(memcmp(bl, lab + cs[k] * 4 * NP, sizeof bl) == 0, "seek %llu label",
                      (unsigned long long)cs[k]);
        ss_loader_close(l);
        /* a loader already running ahead, sought backwards and forwards */
        ck_assert_int_eq(ss_loader_seek(used, cs[k]), 0);
        ck_assert_int_eq(ss_loader_next(used, bi, bl), 0);
        ck_assert_int_eq(memcmp(bi, img + cs[k] * 4 * NP, sizeof bi), 0);
    }
    ss_loader_close(used);
    free(img);
    free(lab);
}
END_TEST

START_TEST(test_loader_error_propagates)
{
    /* remove the file of labeled row 0: every epoch draws it */
    const char *id = ss_dataset_case(g_ds, SS_SPLIT_TRAIN, 0);
    char path[512];
    snprintf(path, sizeof path, "%s/2018LA_Seg_Training Set/%s/mri_norm2.h5", g_root, id);
    ck_assert_int_eq(unlink(path), 0);
    ss_loader_opts o = opts(3, 2, 0);
    ss_loader *l;
    ck_assert_int_eq(ss_loader_open(g_ds, &o, &l), 0);
    float bi[4 * NP], bl[4 * NP];
    int rc = 0, b;
    for (b = 0; b < 4 && rc == 0; b++) /* an epoch of 4 labeled rows is 2 batches */
        rc = ss_loader_next(l, bi, bl);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(semiseg_error(), id) != NULL, "message does not name the case: %s",
                  semiseg_error());
    uint64_t at = ss_loader_cursor(l);
    ck_assert_int_eq(ss_loader_next(l, bi, bl), -1); /* sticky, cursor unchanged */
    ck_assert_uint_eq(ss_loader_cursor(l), at);
    ss_loader_close(l);
    /* bad options */
    o.workers = 0;
    ck_assert_int_eq(ss_loader_open(g_ds, &o, &l), -1);
    o = opts(1, 1, 0);
    o.labeled_rows = 1;
    ck_assert_int_eq(ss_loader_open(g_ds, &o, &l), -1);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "synth-la"));
}
END_TEST

Suite *suite_loader(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("synth_la");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_loader_matches_direct);
    tcase_add_test(tc, test_loader_threads_invariant);
    tcase_add_test(tc, test_loader_seek);
    tcase_add_test(tc, test_loader_error_propagates);
    suite_add_tcase(s, tc);
    return s;
}
