/* `semiseg metrics PRED.h5 GT.h5`: medpy-identical metrics of a predicted
 * label map against a reference, one JSON object per class on stdout. */
#include "harness/metrics.h"
#include "kernels/error.h"

#include <cjson/cJSON.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: semiseg metrics PRED.h5 GT.h5 [--spacing A,B,C] [--classes K]\n"
            "                       [--empty zero|nan|error] [--dataset NAME]\n\n"
            "Compares the label map in PRED.h5 with the one in GT.h5 (same shape, integer\n"
            "class ids, rank 3 = a volume, rank 2 = a 2-D image) and prints one JSON object\n"
            "per class 1..K-1 with dice, jaccard, hd95, asd, assd and asd_rcps, computed\n"
            "exactly as medpy.metric.binary: surfaces = mask XOR its 6-connected erosion\n"
            "(border counts as outside), exact Euclidean distances; hd95 = 95th percentile\n"
            "of both directed surface-distance sets; asd = mean distance prediction ->\n"
            "reference (medpy asd, the Table-1 repos' ASD); assd = mean of the two directed\n"
            "means (medpy 0.4); asd_rcps = mean over both distance sets (RCPS; medpy >= 0.5\n"
            "assd). Values that are undefined print as null.\n\n"
            "  --spacing A,B,C  voxel spacing along the array axes (default 1,1,1: the\n"
            "                   protocols report HD95/ASD in voxels); 2 values for 2-D\n"
            "  --classes K      classes including background (default: 1 + the largest\n"
            "                   label in either file, at least 2)\n"
            "  --empty RULE     a class absent from a mask: zero (default; every metric 0\n"
            "                   when the prediction is empty, as the V-Net/MC-Net test\n"
            "                   scripts), nan (distances null), error (exit 1)\n"
            "  --dataset NAME   dataset to read in both files (default: 'pred' in PRED.h5\n"
            "                   when present, else 'label'; 'label' in GT.h5)\n"
            "  --transpose-gt   reverse the axis order of GT.h5's array first (the LA and\n"
            "                   Pancreas files are (W,H,D); `semiseg eval --save-pred` writes\n"
            "                   predictions in the readers' (D,H,W) order)\n");
}

/* Reads an integer-valued label dataset as uint8 (D,H,W); rank 2 -> D = 1. */
static uint8_t *read_labels(const char *path, const char *name, int dims[3], int *rank)
{
    H5Eset_auto(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        ss_seterr("cannot open %s as HDF5", path);
        return NULL;
    }
    uint8_t *out = NULL;
    double *buf = NULL;
    hid_t ds = H5Dopen(f, name, H5P_DEFAULT), sp = -1;
    if (ds < 0) {
        ss_seterr("%s has no dataset '%s'", path, name);
        goto done;
    }
    sp = H5Dget_space(ds);
    int r = H5Sget_simple_extent_ndims(sp);
    hsize_t d[3] = {1, 1, 1};
    if (r != 2 && r != 3) {
        ss_seterr("%s:%s has rank %d; want a 3-D volume (D,H,W) or a 2-D image (H,W)", path, name,
                  r);
        goto done;
    }
    H5Sget_simple_extent_dims(sp, d + (3 - r), NULL);
    *rank = r;
    long n = 1;
    for (int a = 0; a < 3; a++) {
        if (d[a] < 1 || d[a] > (1u << 20)) {
            ss_seterr("%s:%s has an unusable size", path, name);
            goto done;
        }
        dims[a] = (int)d[a];
        n *= (long)d[a];
    }
    buf = malloc((size_t)n * sizeof(double));
    out = malloc((size_t)n);
    if (!buf || !out) {
        ss_seterr("out of memory reading %s:%s", path, name);
        goto fail;
    }
    if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        ss_seterr("cannot read %s:%s as numbers", path, name);
        goto fail;
    }
    for (long i = 0; i < n; i++) {
        if (!(buf[i] >= 0.0 && buf[i] <= 255.0 && buf[i] == floor(buf[i]))) {
            ss_seterr("%s:%s holds %g at element %ld; want integer class ids 0..255", path, name,
                      buf[i], i);
            goto fail;
        }
        out[i] = (uint8_t)buf[i];
    }
    goto done;
fail:
    free(out);
    out = NULL;
done:
    free(buf);
    if (sp >= 0)
        H5Sclose(sp);
    if (ds >= 0)
        H5Dclose(ds);
    H5Fclose(f);
    return out;
}

/* Reverses the axis order of a rank-3 array in place (rank 2: of its H, W). */
static int reverse_axes(uint8_t **a, int d[3], int rank)
{
    long n = (long)d[0] * d[1] * d[2];
    uint8_t *t = malloc((size_t)n);
    if (!t)
        return -1;
    if (rank == 3) {
        for (long z = 0; z < d[0]; z++)
            for (long y = 0; y < d[1]; y++)
                for (long x = 0; x < d[2]; x++)
                    t[(x * d[1] + y) * d[0] + z] = (*a)[(z * d[1] + y) * d[2] + x];
        int tmp = d[0];
        d[0] = d[2], d[2] = tmp;
    } else {
        for (long y = 0; y < d[1]; y++)
            for (long x = 0; x < d[2]; x++)
                t[x * d[1] + y] = (*a)[y * d[2] + x];
        int tmp = d[1];
        d[1] = d[2], d[2] = tmp;
    }
    free(*a);
    *a = t;
    return 0;
}

static int has_dataset(const char *path, const char *name)
{
    H5Eset_auto(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return 0;
    int r = H5Lexists(f, name, H5P_DEFAULT) > 0;
    H5Fclose(f);
    return r;
}

static int parse_spacing(const char *s, double sp[3], int *n)
{
    *n = 0;
    const char *p = s;
    while (*p && *n < 4) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !(v > 0.0) || !isfinite(v))
            return -1;
        if (*n < 3)
            sp[*n] = v;
        (*n)++;
        if (*end == ',')
            p = end + 1;
        else if (*end == '\0')
            p = end;
        else
            return -1;
    }
    return *n == 2 || *n == 3 ? 0 : -1;
}

int ss_cmd_metrics(int argc, char **argv)
{
    const char *cmd = "metrics";
    const char *files[2] = {NULL, NULL}, *dsname = NULL, *spacing_s = NULL;
    int classes = 0, nfiles = 0, transpose_gt = 0;
    ss_empty_policy empty = SS_EMPTY_ZERO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--transpose-gt")) {
            transpose_gt = 1;
        } else if (!strcmp(a, "--spacing") && has_val) {
            spacing_s = argv[++i];
        } else if (!strcmp(a, "--classes") && has_val) {
            char *end;
            long k = strtol(argv[++i], &end, 10);
            if (*end || k < 2 || k > 256) {
                fprintf(stderr, "%s: --classes '%s': want an integer 2..256\n", cmd, argv[i]);
                return 2;
            }
            classes = (int)k;
        } else if (!strcmp(a, "--empty") && has_val) {
            if (ss_empty_policy_parse(argv[++i], &empty)) {
                fprintf(stderr, "%s: --empty: %s\n", cmd, semiseg_error());
                return 2;
            }
        } else if (!strcmp(a, "--dataset") && has_val) {
            dsname = argv[++i];
        } else if (!strncmp(a, "--", 2)) {
            fprintf(stderr, "%s: unknown option or missing value '%s' (see semiseg metrics --help)\n",
                    cmd, a);
            return 2;
        } else if (nfiles < 2) {
            files[nfiles++] = a;
        } else {
            fprintf(stderr, "%s: unexpected argument '%s' (want PRED.h5 GT.h5)\n", cmd, a);
            return 2;
        }
    }
    if (nfiles != 2) {
        fprintf(stderr, "%s: want PRED.h5 and GT.h5 (see semiseg metrics --help)\n", cmd);
        return 2;
    }
    double sp[3] = {1, 1, 1};
    int nsp = 0;
    if (spacing_s && parse_spacing(spacing_s, sp, &nsp)) {
        fprintf(stderr, "%s: --spacing '%s': want 2 or 3 positive numbers separated by commas\n",
                cmd, spacing_s);
        return 2;
    }
    const char *pname = dsname ? dsname : has_dataset(files[0], "pred") ? "pred" : "label";
    const char *gname = dsname ? dsname : "label";
    int dp[3], dg[3], rp, rg;
    uint8_t *pred = read_labels(files[0], pname, dp, &rp);
    uint8_t *gt = pred ? read_labels(files[1], gname, dg, &rg) : NULL;
    int rc = 1;
    ss_metrics *m = NULL;
    if (!pred || !gt) {
        fprintf(stderr, "%s: %s\n", cmd, semiseg_error());
        goto done;
    }
    if (transpose_gt && reverse_axes(&gt, dg, rg)) {
        fprintf(stderr, "%s: out of memory transposing %s\n", cmd, files[1]);
        goto done;
    }
    if (memcmp(dp, dg, sizeof dp) || rp != rg) {
        int rev = !transpose_gt && rp == 3 && rg == 3 && dp[0] == dg[2] && dp[1] == dg[1] &&
                  dp[2] == dg[0];
        fprintf(stderr, "%s: %s:%s is %dx%dx%d but %s:%s is %dx%dx%d; want the same shape%s\n",
                cmd, files[0], pname, dp[0], dp[1], dp[2], files[1], gname, dg[0], dg[1], dg[2],
                rev ? " (the axes are reversed: see --transpose-gt)" : "");
        goto done;
    }
    if (nsp && nsp != rp) {
        fprintf(stderr, "%s: --spacing has %d values for rank-%d arrays\n", cmd, nsp, rp);
        goto done;
    }
    if (nsp == 2) {
        sp[2] = sp[1], sp[1] = sp[0], sp[0] = 1.0;
    }
    long n = (long)dp[0] * dp[1] * dp[2];
    if (!classes) {
        int mx = 1;
        for (long i = 0; i < n; i++) {
            if (pred[i] > mx)
                mx = pred[i];
            if (gt[i] > mx)
                mx = gt[i];
        }
        classes = mx + 1;
    }
    m = malloc((size_t)classes * sizeof *m);
    if (!m || ss_metrics_classes(pred, gt, dp, sp, classes, empty, m)) {
        fprintf(stderr, "%s: %s vs %s: %s\n", cmd, files[0], files[1],
                m ? semiseg_error() : "out of memory");
        goto done;
    }
    for (int c = 1; c < classes; c++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "class", c);
        const double v[6] = {m[c - 1].dice, m[c - 1].jaccard, m[c - 1].hd95,
                             m[c - 1].asd,  m[c - 1].assd,    m[c - 1].asd_rcps};
        static const char *names[6] = {"dice", "jaccard", "hd95", "asd", "assd", "asd_rcps"};
        for (int k = 0; k < 6; k++) {
            if (isfinite(v[k]))
                cJSON_AddNumberToObject(o, names[k], v[k]);
            else
                cJSON_AddNullToObject(o, names[k]);
        }
        char *s = cJSON_PrintUnformatted(o);
        printf("%s\n", s);
        cJSON_free(s);
        cJSON_Delete(o);
    }
    rc = 0;
done:
    free(pred);
    free(gt);
    free(m);
    return rc;
}
