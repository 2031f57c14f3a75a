/* Dataset table, data roots and their list files, the first-N labeled rule
 * and the split digest.
 *
 * Layouts (ROOT is the folder given to ss_dataset_open):
 *   la        ROOT/train.list, ROOT/test.list (ROOT/val.list optional; the lists
 *             may also sit in ROOT/2018LA_Seg_Training Set/); case
 *             ROOT/2018LA_Seg_Training Set/<ID>/mri_norm2.h5, or ROOT/<ID>.h5
 *   pancreas  same lists; case ROOT/Pancreas_h5/<ID>_norm.h5, or ROOT/<ID>.h5
 *   acdc      ROOT/train_slices.list (train rows = 2-D slices,
 *             ROOT/data/slices/<ID>.h5), ROOT/val.list and ROOT/test.list
 *             (3-D volumes, ROOT/data/<ID>.h5)
 *   kvasir    ROOT/train.txt, ROOT/test.txt (ROOT/val.txt optional); case
 *             ROOT/images/<ID>.jpg and ROOT/masks/<ID>.png
 *   brats     ROOT/train.list, ROOT/test.list (ROOT/val.list optional); case
 *             folder ROOT/<ID>/ named either the DeepMedic way
 *             (T1c_subtrMeanDivStd.nii.gz, Flair_subtrMeanDivStd.nii.gz,
 *             OTMultiClass.nii.gz) or the BraTS way (<ID>_t1ce.nii.gz,
 *             <ID>_flair.nii.gz, <ID>_seg.nii.gz; .nii also accepted)
 * The synthetic twins use the layout of the dataset they stand for.
 *
 * Axis convention: an ss_volume is (C, D, H, W) with W fastest. LA and
 * Pancreas HDF5 arrays are stored (x, y, z) in C order, i.e. numpy shape
 * (W, H, D) (LA: W x H x 88); the reader transposes them so that D = z,
 * H = y, W = x. The protocol's LA patch 112 x 112 x 80 (x, y, z) is therefore
 * (D, H, W) = (80, 112, 112) here, and its strides (xy 18, z 4) are
 * (4, 18, 18). ACDC arrays are stored (D, H, W) / (H, W) and are read as is.
 * NIfTI volumes have x fastest, so (nz, ny, nx) = (D, H, W) without a copy.
 * Kvasir images are H x W RGB -> C = 3, D = 1. */
#include "datasets/ds_impl.h"
#include "kernels/error.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const ss_dataset_info g_info[] = {
    /* name, real, dims, in_channels, classes, patch (D,H,W), stride (D,H,W), aug, select, unit */
    {"la", "la", 3, 1, 2, {80, 112, 112}, {4, 18, 18}, SS_AUG_LA, SS_SPLIT_TEST, "cases"},
    {"pancreas", "pancreas", 3, 1, 2, {96, 96, 96}, {16, 16, 16}, SS_AUG_CROP, SS_SPLIT_TEST,
     "cases"},
    {"acdc", "acdc", 2, 1, 4, {1, 256, 256}, {0, 0, 0}, SS_AUG_ACDC_LEGACY, SS_SPLIT_VAL,
     "patients"},
    /* Min-Max Similarity: resized to height 512, width 288; selection on the test folder */
    {"kvasir", "kvasir", 2, 3, 2, {1, 512, 288}, {0, 0, 0}, SS_AUG_NONE, SS_SPLIT_TEST, "images"},
    /* MR-contrast CL: 2-D slices 160 x 160, channels (T1Gd, FLAIR), BraTS 2013
     * labels 0..4 (1 necrosis, 2 edema, 3 non-enhancing, 4 enhancing tumour) */
    {"brats", "brats", 2, 2, 5, {1, 160, 160}, {0, 0, 0}, SS_AUG_NONE, SS_SPLIT_TEST, "cases"},
    {"synth-la", "la", 3, 1, 2, {32, 48, 48}, {8, 12, 12}, SS_AUG_LA, SS_SPLIT_TEST, "cases"},
    {"synth-pancreas", "pancreas", 3, 1, 2, {32, 32, 32}, {16, 16, 16}, SS_AUG_CROP,
     SS_SPLIT_TEST, "cases"},
    {"synth-acdc", "acdc", 2, 1, 4, {1, 64, 64}, {0, 0, 0}, SS_AUG_ACDC_LEGACY, SS_SPLIT_VAL,
     "patients"},
    {"synth-kvasir", "kvasir", 2, 3, 2, {1, 96, 128}, {0, 0, 0}, SS_AUG_NONE, SS_SPLIT_TEST,
     "images"},
    {"synth-brats", "brats", 2, 2, 5, {1, 64, 64}, {0, 0, 0}, SS_AUG_NONE, SS_SPLIT_TEST, "cases"},
};
#define N_INFO ((int)(sizeof g_info / sizeof g_info[0]))

static const char *const g_names[] = {"la",       "pancreas",       "acdc",
                                      "kvasir",   "brats",          "synth-la",
                                      "synth-pancreas", "synth-acdc", "synth-kvasir",
                                      "synth-brats", NULL};

const ss_dataset_info *ss_dataset_lookup(const char *name)
{
    for (int i = 0; name && i < N_INFO; i++)
        if (!strcmp(g_info[i].name, name))
            return &g_info[i];
    ss_seterr("unknown dataset '%s' (expected one of la, pancreas, acdc, kvasir, brats, "
              "synth-la, synth-pancreas, synth-acdc, synth-kvasir, synth-brats)",
              name ? name : "(null)");
    return NULL;
}

const char *const *ss_dataset_names(void) { return g_names; }

ds_format ds_format_of(const ss_dataset_info *info)
{
    if (!strcmp(info->real, "la"))
        return DS_LA;
    if (!strcmp(info->real, "pancreas"))
        return DS_PANCREAS;
    if (!strcmp(info->real, "acdc"))
        return DS_ACDC;
    if (!strcmp(info->real, "kvasir"))
        return DS_KVASIR;
    return DS_BRATS;
}

/* ---- files ------------------------------------------------------------------ */
int ds_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int ds_dir_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- list files ---------------------------------------------------------------- */
void ds_free_list(char **ids, int n)
{
    if (!ids)
        return;
    for (int i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

int ds_read_list(const char *dataset, const char *path, char ***ids_out, int *n_out)
{
    *ids_out = NULL;
    *n_out = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ss_seterr("%s: cannot open list file %s (expected one case id per line)", dataset,
                         path);
    char **ids = NULL;
    int n = 0, cap = 0;
    char line[4096];
    size_t len = 0;
    int c, too_long = 0;
    for (;;) {
        c = fgetc(f);
        if (c == EOF || c == '\n') {
            if (len > 0) {
                if (n == cap) {
                    cap = cap ? 2 * cap : 64;
                    char **t = realloc(ids, (size_t)cap * sizeof *t);
                    if (!t)
                        break;
                    ids = t;
                }
                line[len] = '\0';
                ids[n] = malloc(len + 1);
                if (!ids[n])
                    break;
                memcpy(ids[n], line, len + 1);
                n++;
            }
            len = 0;
            if (c == EOF)
                break;
        } else if (!isspace(c)) {
            if (len + 1 >= sizeof line) {
                too_long = 1;
                break;
            }
            line[len++] = (char)c;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (c != EOF || err || too_long) {
        ds_free_list(ids, n);
        return ss_seterr("%s: cannot read list file %s (%s)", dataset, path,
                         too_long ? "a line is longer than 4095 characters" : "read error");
    }
    if (n == 0) {
        free(ids);
        return ss_seterr("%s: list file %s is empty (expected one case id per line)", dataset,
                         path);
    }
    *ids_out = ids;
    *n_out = n;
    return SS_OK;
}

size_t ds_acdc_patient_len(const char *id)
{
    const char *u = strchr(id, '_');
    return u ? (size_t)(u - id) : strlen(id);
}

int ds_acdc_patients_to_rows(const char *dataset, char *const *ids, int n, int patients,
                             int *rows)
{
    if (patients < 0)
        return ss_seterr("%s: labeled patients %d must be >= 0", dataset, patients);
    int seen = 0;
    for (int i = 0; i < n; i++) {
        size_t l = ds_acdc_patient_len(ids[i]);
        int fresh = i == 0 || ds_acdc_patient_len(ids[i - 1]) != l ||
                    strncmp(ids[i], ids[i - 1], l) != 0;
        if (fresh) {
            if (seen == patients) {
                *rows = i;
                return SS_OK;
            }
            seen++;
        }
    }
    if (seen == patients) {
        *rows = n;
        return SS_OK;
    }
    return ss_seterr("%s: %d labeled patients requested but the train list has %d patients",
                     dataset, patients, seen);
}

/* ---- open ------------------------------------------------------------------------ */
static char *dupstr(const char *s)
{
    size_t l = strlen(s) + 1;
    char *d = malloc(l);
    if (d)
        memcpy(d, s, l);
    return d;
}

static const char *list_name(ds_format fmt, ss_split s, int *required)
{
    *required = s != SS_SPLIT_VAL || fmt == DS_ACDC;
    switch (fmt) {
    case DS_ACDC:
        return s == SS_SPLIT_TRAIN ? "train_slices.list" : s == SS_SPLIT_VAL ? "val.list" : "test.list";
    case DS_KVASIR:
        return s == SS_SPLIT_TRAIN ? "train.txt" : s == SS_SPLIT_VAL ? "val.txt" : "test.txt";
    default:
        return s == SS_SPLIT_TRAIN ? "train.list" : s == SS_SPLIT_VAL ? "val.list" : "test.list";
    }
}

void ds_brats_paths(const char *dir, const char *id, int mode, char p[3][4096])
{
    if (mode == DS_BRATS_DEEPMEDIC) {
        snprintf(p[0], 4096, "%s/T1c_subtrMeanDivStd.nii.gz", dir);
        snprintf(p[1], 4096, "%s/Flair_subtrMeanDivStd.nii.gz", dir);
        snprintf(p[2], 4096, "%s/OTMultiClass.nii.gz", dir);
        return;
    }
    static const char *suf[3] = {"t1ce", "flair", "seg"};
    for (int k = 0; k < 3; k++) {
        snprintf(p[k], 4096, "%s/%s_%s.nii", dir, id, suf[k]);
        if (!ds_file_exists(p[k])) /* the usual .nii.gz, also named when neither exists */
            snprintf(p[k], 4096, "%s/%s_%s.nii.gz", dir, id, suf[k]);
    }
}

/* Finds the file(s) of one listed case; 0 = found, -1 = message set. */
static int resolve(const ss_dataset *ds, ss_split s, const char *id, char *path, int *mode)
{
    const char *name = ds->info->name, *root = ds->root;
    char alt[4096];
    *mode = 0;
    switch (ds->fmt) {
    case DS_LA:
    case DS_PANCREAS:
        if (ds->fmt == DS_LA)
            snprintf(path, 4096, "%s/2018LA_Seg_Training Set/%s/mri_norm2.h5", root, id);
        else
            snprintf(path, 4096, "%s/Pancreas_h5/%s_norm.h5", root, id);
        if (ds_file_exists(path))
            return SS_OK;
        snprintf(alt, sizeof alt, "%s/%s.h5", root, id);
        if (ds_file_exists(alt)) {
            memcpy(path, alt, strlen(alt) + 1);
            return SS_OK;
        }
        return ss_seterr("%s: case '%s': neither %s nor %s exists", name, id, path, alt);
    case DS_ACDC:
        if (s == SS_SPLIT_TRAIN)
            snprintf(path, 4096, "%s/data/slices/%s.h5", root, id);
        else
            snprintf(path, 4096, "%s/data/%s.h5", root, id);
        if (ds_file_exists(path))
            return SS_OK;
        return ss_seterr("%s: case '%s': %s does not exist (expected a %s HDF5 file)", name, id,
                         path, s == SS_SPLIT_TRAIN ? "2-D slice" : "3-D volume");
    case DS_KVASIR:
        snprintf(path, 4096, "%s/images/%s.jpg", root, id);
        snprintf(alt, sizeof alt, "%s/masks/%s.png", root, id);
        if (!ds_file_exists(path))
            return ss_seterr("%s: case '%s': image %s does not exist", name, id, path);
        if (!ds_file_exists(alt))
            return ss_seterr("%s: case '%s': mask %s does not exist", name, id, alt);
        return SS_OK;
    case DS_BRATS: {
        snprintf(path, 4096, "%s/%s", root, id);
        if (!ds_dir_exists(path))
            return ss_seterr("%s: case '%s': folder %s does not exist", name, id, path);
        char p[3][4096];
        ds_brats_paths(path, id, DS_BRATS_DEEPMEDIC, p);
        int m = ds_file_exists(p[0]) || ds_file_exists(p[2]) ? DS_BRATS_DEEPMEDIC : DS_BRATS_STANDARD;
        ds_brats_paths(path, id, m, p);
        for (int k = 0; k < 3; k++)
            if (!ds_file_exists(p[k]))
                return ss_seterr("%s: case '%s': %s does not exist (expected T1Gd, FLAIR and "
                                 "label NIfTI files in %s naming)",
                                 name, id, p[k], m == DS_BRATS_DEEPMEDIC ? "DeepMedic" : "BraTS");
        *mode = m;
        return SS_OK;
    }
    }
    return ss_seterr("%s: unknown format", name);
}

void ss_dataset_close(ss_dataset *ds)
{
    if (!ds)
        return;
    for (int s = 0; s < SS_SPLIT_COUNT; s++) {
        free(ds->list_path[s]);
        ds_free_list(ds->ids[s], ds->n[s]);
        ds_free_list(ds->paths[s], ds->n[s]);
        free(ds->mode[s]);
        free(ds->missing[s]);
    }
    free(ds->root);
    free(ds);
}

static int hash_lists(ss_dataset *ds)
{
    ds_sha256 h;
    ds_sha256_init(&h);
    for (int s = 0; s < SS_SPLIT_COUNT; s++) {
        if (!ds->list_path[s])
            continue;
        FILE *f = fopen(ds->list_path[s], "rb");
        if (!f)
            return ss_seterr("%s: cannot reopen list file %s", ds->info->name, ds->list_path[s]);
        unsigned char buf[8192];
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, f)) > 0)
            ds_sha256_update(&h, buf, k);
        fclose(f);
    }
    uint8_t d[32];
    ds_sha256_final(&h, d);
    ds_sha256_hex(d, ds->sha);
    return SS_OK;
}

int ds_open(const char *name, const char *root, int lenient, ss_dataset **out)
{
    *out = NULL;
    const ss_dataset_info *info = ss_dataset_lookup(name);
    if (!info)
        return SS_ERR;
    if (!root || !ds_dir_exists(root))
        return ss_seterr("%s: data root %s is not a folder", name, root ? root : "(null)");
    ss_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return ss_seterr("%s: out of memory", name);
    ds->info = info;
    ds->fmt = ds_format_of(info);
    ds->root = dupstr(root);
    if (!ds->root)
        goto oom;
    for (int s = 0; s < SS_SPLIT_COUNT; s++) {
        int required;
        const char *ln = list_name(ds->fmt, (ss_split)s, &required);
        char lp[4096];
        snprintf(lp, sizeof lp, "%s/%s", root, ln);
        if (!ds_file_exists(lp) && ds->fmt == DS_LA) {
            /* lists beside the case folders (the DTC layout) */
            char alt[4096];
            snprintf(alt, sizeof alt, "%s/2018LA_Seg_Training Set/%s", root, ln);
            if (ds_file_exists(alt))
                memcpy(lp, alt, strlen(alt) + 1);
        }
        if (!ds_file_exists(lp)) {
            if (!required)
                continue;
            ss_seterr("%s: list file %s does not exist (expected %s in the data root)", name, lp,
                      ln);
            goto fail;
        }
        ds->list_path[s] = dupstr(lp);
        if (!ds->list_path[s])
            goto oom;
        if (ds_read_list(name, lp, &ds->ids[s], &ds->n[s]) != 0)
            goto fail;
        int n = ds->n[s];
        ds->paths[s] = calloc((size_t)n, sizeof(char *));
        ds->mode[s] = calloc((size_t)n, sizeof(int));
        ds->missing[s] = calloc((size_t)n, 1);
        if (!ds->paths[s] || !ds->mode[s] || !ds->missing[s])
            goto oom;
        for (int i = 0; i < n; i++) {
            char path[4096];
            if (resolve(ds, (ss_split)s, ds->ids[s][i], path, &ds->mode[s][i]) != 0) {
                if (!lenient) {
                    char msg[1024];
                    snprintf(msg, sizeof msg, "%s", semiseg_error());
                    ss_seterr("%s (listed in %s)", msg, lp);
                    goto fail;
                }
                ds->missing[s][i] = 1;
            }
            ds->paths[s][i] = dupstr(path);
            if (!ds->paths[s][i])
                goto oom;
        }
    }
    if (hash_lists(ds) != 0)
        goto fail;
    *out = ds;
    return SS_OK;
oom:
    ss_seterr("%s: out of memory opening %s", name, root);
fail:
    ss_dataset_close(ds);
    return SS_ERR;
}

int ss_dataset_open(const char *name, const char *root, ss_dataset **out)
{
    return ds_open(name, root, 0, out);
}

const ss_dataset_info *ss_dataset_info_of(const ss_dataset *ds) { return ds->info; }
const char *ss_dataset_root(const ss_dataset *ds) { return ds->root; }

int ss_dataset_count(const ss_dataset *ds, ss_split split)
{
    if (!ds || split < 0 || split >= SS_SPLIT_COUNT)
        return 0;
    return ds->n[split];
}

const char *ss_dataset_case(const ss_dataset *ds, ss_split split, int i)
{
    if (!ds || split < 0 || split >= SS_SPLIT_COUNT || i < 0 || i >= ds->n[split])
        return NULL;
    return ds->ids[split][i];
}

int ss_dataset_load(const ss_dataset *ds, ss_split split, int i, ss_volume *out)
{
    memset(out, 0, sizeof *out);
    if (split < 0 || split >= SS_SPLIT_COUNT || i < 0 || i >= ds->n[split])
        return ss_seterr("%s: row %d of split %d is out of range (the list has %d rows)",
                         ds->info->name, i, (int)split,
                         (split >= 0 && split < SS_SPLIT_COUNT) ? ds->n[split] : 0);
    const char *id = ds->ids[split][i], *path = ds->paths[split][i];
    const char *name = ds->info->name;
    if (ds->missing[split][i]) {
        int m;
        char p[4096];
        return resolve(ds, split, id, p, &m);
    }
    int rc;
    switch (ds->fmt) {
    case DS_LA:
    case DS_PANCREAS:
        rc = ds_read_h5(name, path, 3, 1, ds->info->classes, out);
        break;
    case DS_ACDC:
        rc = ds_read_h5(name, path, split == SS_SPLIT_TRAIN ? 2 : 3, 0, ds->info->classes, out);
        break;
    case DS_KVASIR: {
        char mask[4096];
        snprintf(mask, sizeof mask, "%s/masks/%s.png", ds->root, id);
        rc = ds_read_kvasir(name, path, mask, out);
        break;
    }
    default:
        rc = ds_read_brats(name, path, id, ds->mode[split][i], ds->info->classes, out);
        break;
    }
    if (rc != 0)
        return rc;
    snprintf(out->id, sizeof out->id, "%s", id);
    return SS_OK;
}

int ss_dataset_labeled_rows(const ss_dataset *ds, int labeled, int *rows)
{
    const char *name = ds->info->name;
    int n = ds->n[SS_SPLIT_TRAIN];
    if (ds->fmt == DS_ACDC)
        return ds_acdc_patients_to_rows(name, ds->ids[SS_SPLIT_TRAIN], n, labeled, rows);
    if (labeled < 0 || labeled > n)
        return ss_seterr("%s: %d labeled %s requested but the train list %s has %d rows", name,
                         labeled, ds->info->labeled_unit,
                         ds->list_path[SS_SPLIT_TRAIN] ? ds->list_path[SS_SPLIT_TRAIN] : "", n);
    *rows = labeled;
    return SS_OK;
}

const char *ss_dataset_split_sha256(const ss_dataset *ds) { return ds->sha; }

/* ---- synthetic twins: dispatch -------------------------------------------------- */
int ss_synth_write(const char *name, const char *out_dir, uint64_t seed, double scale)
{
    const ss_dataset_info *info = ss_dataset_lookup(name);
    if (!info)
        return SS_ERR;
    if (strncmp(name, "synth-", 6) != 0)
        return ss_seterr("%s is a real dataset; synthetic twins are synth-la, synth-pancreas, "
                         "synth-acdc, synth-kvasir, synth-brats",
                         name);
    if (!(scale >= 0.25 && scale <= 16))
        return ss_seterr("%s: scale %g out of range (expected 0.25 .. 16)", name, scale);
    if (ss_mkdirs(out_dir) != 0)
        return SS_ERR;
    switch (ds_format_of(info)) {
    case DS_LA:
        return sy_synth_la(out_dir, seed, scale);
    case DS_PANCREAS:
        return sy_synth_pancreas(out_dir, seed, scale);
    case DS_ACDC:
        return sy_synth_acdc(out_dir, seed, scale);
    case DS_KVASIR:
        return sy_synth_kvasir(out_dir, seed, scale);
    default:
        return sy_synth_brats(out_dir, seed, scale);
    }
}
