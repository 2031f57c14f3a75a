/* Suite evaluate: ss_evaluate on synthetic cases with an identity model (the
 * prediction is the thresholded image, so every metric can be recomputed
 * directly with ss_metrics_classes), the per-class mean / population std /
 * selection key, and the metrics.csv, summary.json and prediction files.
 * Comparisons are exact except the mean and std (1e-12 relative, summation
 * order). */
#include "harness/evaluate.h"
#include "kernels/error.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NCASE 3
static const int DIMS[3] = {12, 14, 16};

/* case i: label = box shifted by i; image = a different box (the "prediction") */
static void box(uint8_t *m, int z0, int z1, int y0, int y1, int x0, int x1)
{
    for (int z = z0; z < z1; z++)
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++)
                m[((long)z * DIMS[1] + y) * DIMS[2] + x] = 1;
}

typedef struct {
    int no_label_at, fail_at, empty_pred_at;
} src_ctx;

static void case_masks(int i, int empty_pred, uint8_t *pred, uint8_t *gt)
{
    long n = (long)DIMS[0] * DIMS[1] * DIMS[2];
    memset(pred, 0, (size_t)n);
    memset(gt, 0, (size_t)n);
    box(gt, 2, 9, 3, 10, 2 + 2 * i, 12 + i);
    if (!empty_pred) {
        box(pred, 3, 10, 3, 11, 3, 12);
        if (i == 2)
            box(pred, 0, 2, 0, 2, 14, 16); /* a stray blob touching the border */
    }
}

static int load_case(void *vctx, int i, ss_volume *v)
{
    src_ctx *c = vctx;
    if (i == c->fail_at)
        return ss_seterr("cannot read file case%d.h5", i);
    long n = (long)DIMS[0] * DIMS[1] * DIMS[2];
    memset(v, 0, sizeof *v);
    snprintf(v->id, sizeof v->id, "case/%d", i);
    v->c = 1, v->d = DIMS[0], v->h = DIMS[1], v->w = DIMS[2];
    v->spacing[0] = 2.0, v->spacing[1] = v->spacing[2] = 0.5;
    v->image = malloc((size_t)n * sizeof(float));
    uint8_t *pred = malloc((size_t)n);
    v->label = malloc((size_t)n);
    case_masks(i, i == c->empty_pred_at, pred, v->label);
    for (long j = 0; j < n; j++)
        v->image[j] = pred[j] ? 0.8f : 0.2f;
    free(pred);
    if (i == c->no_label_at) {
        free(v->label);
        v->label = NULL;
    }
    return 0;
}

static int ident(void *ctx, int n, const int s[4], const float *x, float *prob)
{
    (void)ctx;
    long vol = (long)s[1] * s[2] * s[3];
    for (int b = 0; b < n; b++)
        for (long i = 0; i < vol; i++) {
            prob[(long)b * 2 * vol + i] = 1.0f - x[(long)b * vol + i];
            prob[(long)b * 2 * vol + vol + i] = x[(long)b * vol + i];
        }
    return 0;
}

static ss_eval_opts opts(void)
{
    ss_eval_opts o;
    memset(&o, 0, sizeof o);
    o.infer = (ss_infer_opts){3, {8, 8, 8}, {4, 4, 4}, 2, 4, 0};
    o.empty = SS_EMPTY_ZERO;
    return o;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "missing %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    ck_assert(fread(s, 1, (size_t)n, f) == (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

static int close_rel(double a, double b)
{
    return fabs(a - b) <= 1e-12 * fabs(b) + 1e-15;
}

START_TEST(evaluate_metrics_and_files)
{
    src_ctx c = {-1, -1, -1};
    ss_case_source src = {&c, NCASE, load_case};
    char dir[] = "/tmp/ss_test_eval_XXXXXX";
    ck_assert(mkdtemp(dir));
    char pdir[4200];
    snprintf(pdir, sizeof pdir, "%s/pred", dir);
    ck_assert(mkdir(pdir, 0755) == 0);
    ss_eval_opts o = opts();
    o.use_spacing = 1;
    o.pred_dir = pdir;
    ss_eval_result r;
    ck_assert_msg(ss_evaluate(&o, &src, ident, NULL, &r) == 0, "%s", semiseg_error());
    ck_assert_int_eq(r.n_cases, NCASE);
    ck_assert_int_eq(r.classes, 2);
    long n = (long)DIMS[0] * DIMS[1] * DIMS[2];
    uint8_t *p = malloc((size_t)n), *g = malloc((size_t)n);
    const double sp[3] = {2.0, 0.5, 0.5};
    double mean = 0, sq = 0, dices[NCASE];
    for (int i = 0; i < NCASE; i++) {
        case_masks(i, 0, p, g);
        ss_metrics want;
        ck_assert(ss_metrics_binary(p, g, DIMS, sp, SS_EMPTY_ZERO, &want) == 0);
        ck_assert_msg(!memcmp(&want, &r.m[i], sizeof want), "case %d metrics differ", i);
        char id[32];
        snprintf(id, sizeof id, "case/%d", i);
        ck_assert_str_eq(r.ids[i], id);
        dices[i] = want.dice;
        mean += want.dice / NCASE;
        /* the saved prediction */
        char path[4300];
        snprintf(path, sizeof path, "%s/case_%d.h5", pdir, i);
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        ck_assert_msg(f >= 0, "missing %s", path);
        uint8_t *q = malloc((size_t)n);
        hid_t ds = H5Dopen(f, "pred", H5P_DEFAULT);
        ck_assert(H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, q) >= 0);
        ck_assert(!memcmp(q, p, (size_t)n));
        H5Dclose(ds);
        H5Fclose(f);
        free(q);
    }
    ck_assert(dices[0] != dices[1]); /* the cases differ, so std is not trivially 0 */
    for (int i = 0; i < NCASE; i++)
        sq += (dices[i] - mean) * (dices[i] - mean);
    ck_assert(close_rel(r.mean[0].dice, mean));
    ck_assert(close_rel(r.std[0].dice, sqrt(sq / NCASE)));
    ck_assert(close_rel(r.mean_dice, mean));

    ss_eval_meta meta = {"best", "synth-la", "test", "abc123", "vnet", "seg1", "w.h5", 800};
    ck_assert_msg(ss_eval_write(&r, &o, &meta, dir) == 0, "%s", semiseg_error());
    char path[4300];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    char *csv = slurp(path);
    ck_assert(!strncmp(csv, "case,class,dice,jaccard,hd95,asd,assd,asd_rcps\ncase/0,1,", 56));
    int lines = 0;
    for (char *s = csv; *s; s++)
        lines += *s == '\n';
    ck_assert_int_eq(lines, 1 + NCASE);
    free(csv);
    snprintf(path, sizeof path, "%s/summary.json", dir);
    char *js = slurp(path);
    cJSON *root = cJSON_Parse(js);
    ck_assert(root);
    ck_assert_str_eq(cJSON_GetObjectItem(root, "tag")->valuestring, "best");
    ck_assert_str_eq(cJSON_GetObjectItem(root, "split_sha256")->valuestring, "abc123");
    ck_assert(close_rel(cJSON_GetObjectItem(root, "mean_dice")->valuedouble, mean));
    ck_assert_int_eq(cJSON_GetObjectItem(root, "iteration")->valueint, 800);
    cJSON *opt = cJSON_GetObjectItem(root, "options");
    ck_assert_str_eq(cJSON_GetObjectItem(opt, "empty")->valuestring, "zero");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(root, "cases")), NCASE);
    cJSON *c1 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "classes"), 0);
    ck_assert(close_rel(cJSON_GetObjectItem(cJSON_GetObjectItem(c1, "std"), "dice")->valuedouble,
                        sqrt(sq / NCASE)));
    cJSON *case2 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "cases"), 2);
    cJSON *m2 = cJSON_GetArrayItem(cJSON_GetObjectItem(case2, "classes"), 0);
    ck_assert(close_rel(cJSON_GetObjectItem(m2, "hd95")->valuedouble, r.m[2].hd95));
    cJSON_Delete(root);
    free(js);
    /* no temporary files are left */
    snprintf(path, sizeof path, "%s/summary.json.tmp", dir);
    ck_assert(access(path, F_OK) != 0);
    ss_eval_result_free(&r);
    free(p), free(g);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert(system(cmd) == 0);
}
END_TEST

START_TEST(evaluate_empty_policy_nan_in_json)
{
    src_ctx c = {-1, -1, 1};
    ss_case_source src = {&c, NCASE, load_case};
    ss_eval_opts o = opts();
    o.empty = SS_EMPTY_NAN;
    ss_eval_result r;
    ck_assert_msg(ss_evaluate(&o, &src, ident, NULL, &r) == 0, "%s", semiseg_error());
    ck_assert(r.m[1].dice == 0.0 && isnan(r.m[1].hd95));
    ck_assert(isnan(r.mean[0].hd95) && !isnan(r.mean[0].dice));
    char dir[] = "/tmp/ss_test_eval_XXXXXX";
    ck_assert(mkdtemp(dir));
    ck_assert(ss_eval_write(&r, &o, NULL, dir) == 0);
    char path[4300];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    char *js = slurp(path);
    cJSON *root = cJSON_Parse(js);
    ck_assert(root);
    cJSON *c1 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "classes"), 0);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(c1, "mean"), "hd95")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(root, "tag")));
    cJSON_Delete(root);
    free(js);
    ss_eval_result_free(&r);
    /* error policy: the empty case stops the run and is named */
    o.empty = SS_EMPTY_ERROR;
    ck_assert_int_eq(ss_evaluate(&o, &src, ident, NULL, &r), -1);
    ck_assert_msg(strstr(semiseg_error(), "case/1"), "%s", semiseg_error());
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert(system(cmd) == 0);
}
END_TEST

START_TEST(evaluate_errors)
{
    ss_eval_opts o = opts();
    ss_eval_result r;
    src_ctx c = {2, -1, -1};
    ss_case_source src = {&c, NCASE, load_case};
    ck_assert_int_eq(ss_evaluate(&o, &src, ident, NULL, &r), -1);
    ck_assert_msg(strstr(semiseg_error(), "case/2") && strstr(semiseg_error(), "no label"), "%s",
                  semiseg_error());
    src_ctx c2 = {-1, 1, -1};
    src.ctx = &c2;
    ck_assert_int_eq(ss_evaluate(&o, &src, ident, NULL, &r), -1);
    ck_assert_msg(strstr(semiseg_error(), "case1.h5"), "%s", semiseg_error());
    src.n = 0;
    ck_assert_int_eq(ss_evaluate(&o, &src, ident, NULL, &r), -1);
    /* writing into a missing directory fails without leaving anything */
    src.n = 1;
    src.ctx = &c;
    ck_assert(ss_evaluate(&o, &src, ident, NULL, &r) == 0);
    ck_assert_int_eq(ss_eval_write(&r, &o, NULL, "/nonexistent/dir"), -1);
    ck_assert_msg(strstr(semiseg_error(), "/nonexistent/dir"), "%s", semiseg_error());
    ss_eval_result_free(&r);
}
END_TEST

Suite *suite_evaluate(void)
{
    Suite *s = suite_create("evaluate");
    TCase *t = tcase_create("core");
    tcase_add_test(t, evaluate_metrics_and_files);
    tcase_add_test(t, evaluate_empty_policy_nan_in_json);
    tcase_add_test(t, evaluate_errors);
    suite_add_tcase(s, t);
    return s;
}
