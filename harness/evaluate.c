/* Per-case evaluation and its writers; see evaluate.h. */
#include "harness/evaluate.h"
#include "harness/fileio.h"
#include "kernels/error.h"

#include <cjson/cJSON.h>
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ss_eval_result_free(ss_eval_result *r)
{
    if (!r)
        return;
    free(r->ids);
    free(r->seconds);
    free(r->m);
    free(r->mean);
    free(r->std);
    memset(r, 0, sizeof *r);
}

static void metric_vals(const ss_metrics *m, double v[6])
{
    v[0] = m->dice, v[1] = m->jaccard, v[2] = m->hd95;
    v[3] = m->asd, v[4] = m->assd, v[5] = m->asd_rcps;
}

static ss_metrics metric_from(const double v[6])
{
    ss_metrics m = {v[0], v[1], v[2], v[3], v[4], v[5]};
    return m;
}

static void safe_id(const char *id, char *out, size_t n)
{
    snprintf(out, n, "%s", id);
    for (char *c = out; *c; c++)
        if (*c == '/' || *c == '\\' || *c == ' ')
            *c = '_';
}

int ss_write_label_h5(const char *path, const uint8_t *labels, const int dims[3],
                      const double spacing[3])
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    H5Eset_auto(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        return ss_seterr("cannot create %s", tmp);
    hsize_t d[3] = {(hsize_t)dims[0], (hsize_t)dims[1], (hsize_t)dims[2]}, three = 3;
    hid_t sp = H5Screate_simple(3, d, NULL);
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk[3] = {d[0] < 16 ? d[0] : 16, d[1] < 64 ? d[1] : 64, d[2] < 64 ? d[2] : 64};
    H5Pset_chunk(pl, 3, chunk);
    H5Pset_deflate(pl, 4);
    hid_t ds = H5Dcreate(f, "pred", H5T_STD_U8LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    int ok = ds >= 0 && H5Dwrite(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels) >= 0;
    if (ok && spacing) {
        hid_t as = H5Screate_simple(1, &three, NULL);
        hid_t a = H5Acreate(ds, "spacing", H5T_IEEE_F64LE, as, H5P_DEFAULT, H5P_DEFAULT);
        ok = a >= 0 && H5Awrite(a, H5T_NATIVE_DOUBLE, spacing) >= 0;
        if (a >= 0)
            H5Aclose(a);
        H5Sclose(as);
    }
    if (ds >= 0)
        H5Dclose(ds);
    H5Pclose(pl);
    H5Sclose(sp);
    ok = H5Fclose(f) >= 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return ss_seterr("cannot write prediction %s", path);
    }
    return SS_OK;
}

int ss_evaluate(const ss_eval_opts *o, const ss_case_source *src, ss_predict_fn f, void *ctx,
                ss_eval_result *res)
{
    memset(res, 0, sizeof *res);
    if (!o || !src || !src->load || !f)
        return ss_seterr("evaluate: NULL options, case source or model");
    if (src->n < 1)
        return ss_seterr("evaluate: the case source has %d cases; want >= 1", src->n);
    const int K = o->infer.classes, nc = K - 1, n = src->n;
    if (K < 2 || K > 256)
        return ss_seterr("evaluate: %d classes; want 2..256", K);
    res->n_cases = n;
    res->classes = K;
    res->ids = calloc((size_t)n, sizeof *res->ids);
    res->seconds = calloc((size_t)n, sizeof(double));
    res->m = calloc((size_t)n * nc, sizeof(ss_metrics));
    res->mean = calloc((size_t)nc, sizeof(ss_metrics));
    res->std = calloc((size_t)nc, sizeof(ss_metrics));
    if (!res->ids || !res->seconds || !res->m || !res->mean || !res->std) {
        ss_eval_result_free(res);
        return ss_seterr("evaluate: out of memory for %d cases", n);
    }
    double t_all = now_s();
    for (int i = 0; i < n; i++) {
        double t0 = now_s();
        ss_volume v;
        memset(&v, 0, sizeof v);
        if (src->load(src->ctx, i, &v)) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", semiseg_error());
            ss_seterr("evaluate: case %d: %s", i, msg);
            ss_volume_free(&v);
            ss_eval_result_free(res);
            return SS_ERR;
        }
        snprintf(res->ids[i], sizeof res->ids[i], "%s", v.id);
        const int dims[3] = {v.d, v.h, v.w};
        long nv = (long)v.d * v.h * v.w;
        uint8_t *pred = malloc((size_t)(nv > 0 ? nv : 1));
        int rc = SS_ERR;
        if (!v.label)
            ss_seterr("case '%s' has no label to evaluate against", v.id);
        else if (!pred)
            ss_seterr("out of memory for the prediction of case '%s'", v.id);
        else if (ss_infer_volume(&o->infer, &v, f, ctx, pred) == 0 &&
                 ss_metrics_classes(pred, v.label, dims, o->use_spacing ? v.spacing : NULL, K,
                                    o->empty, res->m + (long)i * nc) == 0)
            rc = SS_OK;
        if (rc == SS_OK && o->pred_dir) {
            char id[128], path[4096];
            safe_id(v.id, id, sizeof id);
            snprintf(path, sizeof path, "%s/%s.h5", o->pred_dir, id);
            rc = ss_write_label_h5(path, pred, dims, v.spacing);
        }
        free(pred);
        if (rc) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", semiseg_error());
            ss_seterr("evaluate: case %d '%s': %s", i, v.id, msg);
            ss_volume_free(&v);
            ss_eval_result_free(res);
            return SS_ERR;
        }
        ss_volume_free(&v);
        res->seconds[i] = now_s() - t0;
        if (o->log) {
            fprintf(o->log, "eval: case %d/%d %s dice", i + 1, n, res->ids[i]);
            for (int c = 0; c < nc; c++)
                fprintf(o->log, " %.4f", res->m[(long)i * nc + c].dice);
            fprintf(o->log, " (%.1f s)\n", res->seconds[i]);
            fflush(o->log);
        }
    }
    /* mean and population std per class and metric (NaN propagates) */
    res->mean_dice = 0.0;
    for (int c = 0; c < nc; c++) {
        double mean[6] = {0}, var[6] = {0}, v[6];
        for (int i = 0; i < n; i++) {
            metric_vals(&res->m[(long)i * nc + c], v);
            for (int k = 0; k < 6; k++)
                mean[k] += v[k];
        }
        for (int k = 0; k < 6; k++)
            mean[k] /= n;
        for (int i = 0; i < n; i++) {
            metric_vals(&res->m[(long)i * nc + c], v);
            for (int k = 0; k < 6; k++)
                var[k] += (v[k] - mean[k]) * (v[k] - mean[k]);
        }
        for (int k = 0; k < 6; k++)
            var[k] = sqrt(var[k] / n);
        res->mean[c] = metric_from(mean);
        res->std[c] = metric_from(var);
        res->mean_dice += mean[0];
    }
    res->mean_dice /= nc;
    res->total_seconds = now_s() - t_all;
    return SS_OK;
}

/* ---- writers ------------------------------------------------------------------ */

static const char *const METRIC_NAMES[6] = {"dice", "jaccard", "hd95", "asd", "assd", "asd_rcps"};

static cJSON *metrics_obj(const ss_metrics *m)
{
    cJSON *o = cJSON_CreateObject();
    double v[6];
    metric_vals(m, v);
    for (int k = 0; k < 6; k++) {
        if (isfinite(v[k]))
            cJSON_AddNumberToObject(o, METRIC_NAMES[k], v[k]);
        else
            cJSON_AddNullToObject(o, METRIC_NAMES[k]);
    }
    return o;
}

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static cJSON *int_array(const int *v, int n)
{
    return cJSON_CreateIntArray(v, n);
}

int ss_eval_write(const ss_eval_result *r, const ss_eval_opts *o, const ss_eval_meta *meta,
                  const char *dir)
{
    if (!r || !r->m || !o || !dir)
        return ss_seterr("eval write: NULL result, options or directory");
    const int nc = r->classes - 1;
    /* metrics.csv */
    size_t cap = 128 + (size_t)r->n_cases * nc * 256, len = 0;
    char *csv = malloc(cap);
    if (!csv)
        return ss_seterr("eval write: out of memory");
    len += (size_t)snprintf(csv + len, cap - len, "case,class,dice,jaccard,hd95,asd,assd,asd_rcps\n");
    for (int i = 0; i < r->n_cases; i++)
        for (int c = 0; c < nc; c++) {
            double v[6];
            metric_vals(&r->m[(long)i * nc + c], v);
            len += (size_t)snprintf(csv + len, cap - len, "%s,%d", r->ids[i], c + 1);
            for (int k = 0; k < 6; k++)
                len += (size_t)snprintf(csv + len, cap - len, ",%.10g", v[k]);
            len += (size_t)snprintf(csv + len, cap - len, "\n");
        }
    int rc = ss_write_text_in(dir, "metrics.csv", csv);
    free(csv);
    if (rc)
        return rc;

    /* summary.json */
    cJSON *root = cJSON_CreateObject();
    ss_eval_meta none = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, -1};
    if (!meta)
        meta = &none;
    add_str(root, "tag", meta->tag);
    add_str(root, "dataset", meta->dataset);
    add_str(root, "split", meta->split);
    add_str(root, "split_sha256", meta->split_sha256);
    add_str(root, "model", meta->model);
    add_str(root, "head", meta->head);
    add_str(root, "weights", meta->weights);
    if (meta->iteration >= 0)
        cJSON_AddNumberToObject(root, "iteration", (double)meta->iteration);
    else
        cJSON_AddNullToObject(root, "iteration");
    cJSON *opt = cJSON_AddObjectToObject(root, "options");
    cJSON_AddStringToObject(opt, "inference", o->infer.dims == 3 ? "sliding_window_3d" : "slicewise_2d");
    cJSON_AddItemToObject(opt, "patch", int_array(o->infer.patch, 3));
    if (o->infer.dims == 3)
        cJSON_AddItemToObject(opt, "stride", int_array(o->infer.stride, 3));
    cJSON_AddNumberToObject(opt, "classes", o->infer.classes);
    cJSON_AddNumberToObject(opt, "batch", o->infer.batch);
    cJSON_AddBoolToObject(opt, "lcc", o->infer.lcc != 0);
    cJSON_AddStringToObject(opt, "empty", ss_empty_policy_name(o->empty));
    cJSON_AddStringToObject(opt, "spacing", o->use_spacing ? "volume" : "unit");
    cJSON_AddStringToObject(opt, "label_rule", o->infer.dims == 3 && o->infer.classes == 2
                                                   ? "mean_fg_prob>0.5"
                                                   : "argmax");
    cJSON_AddStringToObject(opt, "asd", "directed pred->gt (medpy asd)");
    cJSON_AddStringToObject(opt, "std", "population (ddof 0)");
    cJSON_AddNumberToObject(root, "n_cases", r->n_cases);
    if (isfinite(r->mean_dice))
        cJSON_AddNumberToObject(root, "mean_dice", r->mean_dice);
    else
        cJSON_AddNullToObject(root, "mean_dice");
    cJSON *cls = cJSON_AddArrayToObject(root, "classes");
    for (int c = 0; c < nc; c++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "class", c + 1);
        cJSON_AddItemToObject(e, "mean", metrics_obj(&r->mean[c]));
        cJSON_AddItemToObject(e, "std", metrics_obj(&r->std[c]));
        cJSON_AddItemToArray(cls, e);
    }
    cJSON *cases = cJSON_AddArrayToObject(root, "cases");
    for (int i = 0; i < r->n_cases; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "id", r->ids[i]);
        cJSON_AddNumberToObject(e, "seconds", r->seconds[i]);
        cJSON *pc = cJSON_AddArrayToObject(e, "classes");
        for (int c = 0; c < nc; c++) {
            cJSON *m = metrics_obj(&r->m[(long)i * nc + c]);
            cJSON_AddNumberToObject(m, "class", c + 1);
            cJSON_AddItemToArray(pc, m);
        }
        cJSON_AddItemToArray(cases, e);
    }
    cJSON_AddNumberToObject(root, "seconds", r->total_seconds);
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    if (!txt)
        return ss_seterr("eval write: out of memory for summary.json");
    size_t tl = strlen(txt);
    char *withnl = malloc(tl + 2);
    if (!withnl) {
        cJSON_free(txt);
        return ss_seterr("eval write: out of memory for summary.json");
    }
    memcpy(withnl, txt, tl);
    withnl[tl] = '\n';
    withnl[tl + 1] = '\0';
    cJSON_free(txt);
    rc = ss_write_text_in(dir, "summary.json", withnl);
    free(withnl);
    return rc;
}
