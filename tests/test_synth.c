/* Synthetic twins: each is written into a fresh temporary folder, opened by the
 * real dataset's reader and checked (list sizes, shapes, channels, label
 * values, intensity normalisation, tissue contrasts that the generators
 * promise), passes `verify`, and is byte-identical for the same seed and
 * different for another seed. */
#include "datasets/dataset.h"
#include "datasets/ds_impl.h"
#include "datasets/verify.h"
#include "ds_testutil.h"
#include "kernels/error.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct twin {
    const char *name;
    int train_lo, train_hi, val, test; /* expected list sizes */
    int d_lo, d_hi, hw_lo, hw_hi;      /* spatial size range of test cases at scale 1 */
} twin;

static const twin TW[] = {
    {"synth-la", 20, 20, 0, 4, 48, 48, 60, 72},
    {"synth-pancreas", 16, 16, 0, 4, 48, 48, 52, 68},
    {"synth-acdc", 8 * 2 * 6, 8 * 2 * 8, 4, 4, 6, 8, 56, 72},
    {"synth-kvasir", 20, 20, 0, 6, 1, 1, 96, 128},
    {"synth-brats", 6, 6, 0, 2, 24, 24, 64, 64},
};
#define NTW ((int)(sizeof TW / sizeof TW[0]))

static double mean_where(const ss_volume *v, int ch, int lab, int nonzero_only)
{
    size_t n = (size_t)v->d * v->h * v->w;
    double s = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        float x = v->image[(size_t)ch * n + i];
        if (v->label[i] == lab && (!nonzero_only || x != 0.0f)) {
            s += x;
            k++;
        }
    }
    ck_assert_msg(k > 0, "%s: no voxel of label %d", v->id, lab);
    return s / (double)k;
}

static void check_case(const twin *t, const ss_dataset_info *info, const ss_volume *v, int split)
{
    ck_assert_int_eq(v->c, info->in_channels);
    size_t n = (size_t)v->d * v->h * v->w;
    size_t hist[256] = {0};
    for (size_t i = 0; i < n; i++)
        hist[v->label[i]]++;
    for (int c = info->classes; c < 256; c++)
        ck_assert_msg(hist[c] == 0, "%s: label %d present", v->id, c);
    ck_assert_msg(hist[0] < n, "%s: background only", v->id);
    int twod_slice = !strcmp(t->name, "synth-acdc") && split == SS_SPLIT_TRAIN;
    if (!twod_slice) {
        ck_assert_msg(v->d >= t->d_lo && v->d <= t->d_hi, "%s: depth %d", v->id, v->d);
        ck_assert_msg(v->h >= t->hw_lo && v->h <= t->hw_hi && v->w >= t->hw_lo && v->w <= t->hw_hi,
                      "%s: %dx%d", v->id, v->h, v->w);
    } else {
        ck_assert_int_eq(v->d, 1);
    }
    if (!strcmp(t->name, "synth-la") || !strcmp(t->name, "synth-pancreas")) {
        /* z-scored over the volume (float32 rounding: 1e-3 on mean and std) */
        double s = 0, s2 = 0;
        for (size_t i = 0; i < n; i++)
            s += v->image[i];
        double m = s / (double)n;
        for (size_t i = 0; i < n; i++)
            s2 += (v->image[i] - m) * (v->image[i] - m);
        ck_assert_msg(fabs(m) < 1e-3 && fabs(sqrt(s2 / (double)n) - 1) < 1e-3, "%s: mean %g sd %g",
                      v->id, m, sqrt(s2 / (double)n));
        /* the atrium is bright blood; the pancreas is at least as dense as fat */
        ck_assert(mean_where(v, 0, 1, 0) > mean_where(v, 0, 0, 0));
        int dhw[3] = {v->d, v->h, v->w};
        for (int a = 0; a < 3; a++)
            ck_assert_int_ge(dhw[a], info->patch[a]);
    }
    if (!strcmp(t->name, "synth-acdc") && !twod_slice) {
        float lo = v->image[0], hi = v->image[0];
        for (size_t i = 0; i < n; i++) {
            lo = fminf(lo, v->image[i]);
            hi = fmaxf(hi, v->image[i]);
        }
        ck_assert(lo == 0.0f && hi == 1.0f); /* per-volume min-max */
        for (int c = 1; c < 4; c++)
            ck_assert_msg(hist[c] > 0, "%s: class %d missing", v->id, c);
        /* bright LV and RV blood pools around a dark myocardium */
        ck_assert(mean_where(v, 0, 3, 0) > mean_where(v, 0, 2, 0));
        ck_assert(mean_where(v, 0, 1, 0) > mean_where(v, 0, 2, 0));
    }
    if (!strcmp(t->name, "synth-kvasir")) {
        for (size_t i = 0; i < 3 * n; i++)
            ck_assert(v->image[i] >= 0 && v->image[i] <= 1);
    }
    if (!strcmp(t->name, "synth-brats")) {
        for (int c = 1; c < 5; c++)
            ck_assert_msg(hist[c] > 0, "%s: class %d missing", v->id, c);
        /* channel 0 = T1Gd: enhancing tumour (4) brighter than necrosis (1);
         * channel 1 = FLAIR: edema (2) brighter than normal brain (0, inside the brain) */
        ck_assert(mean_where(v, 0, 4, 0) > mean_where(v, 0, 1, 0) + 0.5);
        ck_assert(mean_where(v, 1, 2, 0) > mean_where(v, 1, 0, 1) + 0.5);
    }
}

START_TEST(twin_reads_and_verifies)
{
    const twin *t = &TW[_i];
    char dir[64];
    ck_assert_int_eq(dtu_tmpdir("ss_synth_", dir, sizeof dir), 0);
    TU_OK(ss_synth_write(t->name, dir, 3, 1.0));
    ss_dataset *ds;
    TU_OK(ss_dataset_open(t->name, dir, &ds));
    const ss_dataset_info *info = ss_dataset_info_of(ds);
    int ntr = ss_dataset_count(ds, SS_SPLIT_TRAIN);
    ck_assert_msg(ntr >= t->train_lo && ntr <= t->train_hi, "%s: %d train rows", t->name, ntr);
    ck_assert_int_eq(ss_dataset_count(ds, SS_SPLIT_VAL), t->val);
    ck_assert_int_eq(ss_dataset_count(ds, SS_SPLIT_TEST), t->test);
    for (int s = 0; s < SS_SPLIT_COUNT; s++)
        for (int i = 0; i < ss_dataset_count(ds, (ss_split)s); i++) {
            if (s == SS_SPLIT_TRAIN && i > 2 && i < ntr - 1)
                continue; /* every split's cases; train: first three and last */
            ss_volume v;
            TU_OK(ss_dataset_load(ds, (ss_split)s, i, &v));
            check_case(t, info, &v, s);
            ss_volume_free(&v);
        }
    if (!strcmp(t->name, "synth-acdc")) {
        /* grouped by patient: 3 patients end exactly at a patient boundary */
        int rows;
        TU_OK(ss_dataset_labeled_rows(ds, 3, &rows));
        const char *a = ss_dataset_case(ds, SS_SPLIT_TRAIN, rows - 1),
                   *b = ss_dataset_case(ds, SS_SPLIT_TRAIN, rows);
        ck_assert(rows >= 3 * 12 && rows <= 3 * 16);
        ck_assert(strncmp(a, b, ds_acdc_patient_len(a)) != 0);
        TU_OK(ss_dataset_labeled_rows(ds, 8, &rows));
        ck_assert_int_eq(rows, ntr);
        ck_assert_int_eq(ss_dataset_labeled_rows(ds, 9, &rows), SS_ERR);
    }
    ss_dataset_close(ds);
    ss_verify_report rep;
    TU_OK(ss_dataset_verify(t->name, dir, NULL, &rep));
    ck_assert_int_eq(rep.failed[0] + rep.failed[1] + rep.failed[2] + rep.list_errors, 0);
    dtu_rm_rf(dir);
}
END_TEST

START_TEST(twin_deterministic_by_seed)
{
    const twin *t = &TW[_i];
    char a[64], b[64], c[64], why[512] = "";
    ck_assert_int_eq(dtu_tmpdir("ss_synth_", a, sizeof a), 0);
    ck_assert_int_eq(dtu_tmpdir("ss_synth_", b, sizeof b), 0);
    ck_assert_int_eq(dtu_tmpdir("ss_synth_", c, sizeof c), 0);
    TU_OK(ss_synth_write(t->name, a, 11, 0.5));
    TU_OK(ss_synth_write(t->name, b, 11, 0.5));
    TU_OK(ss_synth_write(t->name, c, 12, 0.5));
    ck_assert_int_gt(dtu_count_files(a), 4);
    ck_assert_msg(dtu_tree_cmp(a, b, why, sizeof why) == 0, "%s: same seed differs: %s", t->name,
                  why);
    ck_assert_msg(dtu_tree_cmp(a, c, why, sizeof why) != 0, "%s: seeds 11 and 12 identical",
                  t->name);
    /* the half-size twin still opens and reads */
    ss_dataset *ds;
    TU_OK(ss_dataset_open(t->name, a, &ds));
    ss_volume v;
    TU_OK(ss_dataset_load(ds, SS_SPLIT_TEST, 0, &v));
    ck_assert_int_le(v.h, (t->hw_hi + 1) / 2 + 1);
    ss_volume_free(&v);
    ss_dataset_close(ds);
    dtu_rm_rf(a);
    dtu_rm_rf(b);
    dtu_rm_rf(c);
}
END_TEST

START_TEST(synth_errors)
{
    ck_assert_int_eq(ss_synth_write("la", "/tmp/never", 1, 1), SS_ERR);
    ck_assert_msg(strstr(semiseg_error(), "real dataset"), "%s", semiseg_error());
    ck_assert_int_eq(ss_synth_write("synth-xx", "/tmp/never", 1, 1), SS_ERR);
    ck_assert_msg(strstr(semiseg_error(), "unknown dataset"), "%s", semiseg_error());
    ck_assert_int_eq(ss_synth_write("synth-la", "/tmp/never", 1, 0), SS_ERR);
    ck_assert_msg(strstr(semiseg_error(), "scale"), "%s", semiseg_error());
    ck_assert(!ds_dir_exists("/tmp/never"));
}
END_TEST

Suite *suite_synth(void)
{
    Suite *s = suite_create("synth");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, twin_reads_and_verifies, 0, NTW);
    tcase_add_loop_test(tc, twin_deterministic_by_seed, 0, NTW);
    tcase_add_test(tc, synth_errors);
    suite_add_tcase(s, tc);
    return s;
}
