/* BraTS cases (NIfTI, through nifti2_io). Channels used: 0 = T1Gd (t1ce /
 * T1c_subtrMeanDivStd), 1 = FLAIR (flair / Flair_subtrMeanDivStd) -- the
 * contrast pair of the MR-contrast method's reference configuration; T1 and
 * T2 are not read. Labels (seg / OTMultiClass) are kept as stored and must lie
 * in [0, classes): BraTS 2013 0..4 (1 necrosis, 2 edema, 3 non-enhancing,
 * 4 enhancing tumour); files in the 2017+ convention (0, 1, 2, 4) also fit.
 * Images may be any numeric NIfTI type (scanner intensities are often int16);
 * scl_slope / scl_inter are applied. NIfTI x is the fastest axis, so a volume
 * nx x ny x nz is (D, H, W) = (nz, ny, nx) and spacing is (dz, dy, dx). */
#include "datasets/ds_impl.h"
#include "kernels/error.h"

#include <math.h>
#include <nifti/nifti2_io.h>
#include <stdlib.h>
#include <string.h>

/* Converts voxel i of NIM to double; returns 0 on an unsupported type. */
static int voxel(const nifti_image *nim, size_t i, double *v)
{
    const void *d = nim->data;
    switch (nim->datatype) {
    case DT_UINT8:
        *v = ((const uint8_t *)d)[i];
        return 1;
    case DT_INT8:
        *v = ((const int8_t *)d)[i];
        return 1;
    case DT_INT16:
        *v = ((const int16_t *)d)[i];
        return 1;
    case DT_UINT16:
        *v = ((const uint16_t *)d)[i];
        return 1;
    case DT_INT32:
        *v = ((const int32_t *)d)[i];
        return 1;
    case DT_UINT32:
        *v = ((const uint32_t *)d)[i];
        return 1;
    case DT_FLOAT32:
        *v = ((const float *)d)[i];
        return 1;
    case DT_FLOAT64:
        *v = ((const double *)d)[i];
        return 1;
    default:
        return 0;
    }
}

static nifti_image *load(const char *dataset, const char *path, const char *what)
{
    nifti_set_debug_level(0);
    if (!ds_file_exists(path)) {
        ss_seterr("%s: %s file %s does not exist", dataset, what, path);
        return NULL;
    }
    nifti_image *nim = nifti_image_read(path, 1);
    if (!nim || !nim->data) {
        if (nim)
            nifti_image_free(nim);
        ss_seterr("%s: %s cannot be read as NIfTI (truncated or corrupt; expected a 3-D %s "
                  "volume)",
                  dataset, path, what);
        return NULL;
    }
    int64_t extra = 1;
    for (int k = 4; k <= 7 && k <= nim->ndim; k++)
        extra *= nim->dim[k] > 0 ? nim->dim[k] : 1;
    if (nim->ndim < 3 || extra != 1 || nim->nx <= 0 || nim->ny <= 0 || nim->nz <= 0) {
        ss_seterr("%s: %s has %d dimensions (%lldx%lldx%lld x %lld), expected one 3-D %s volume",
                  dataset, path, (int)nim->ndim, (long long)nim->nx, (long long)nim->ny,
                  (long long)nim->nz, (long long)extra, what);
        nifti_image_free(nim);
        return NULL;
    }
    return nim;
}

int ds_read_brats(const char *dataset, const char *case_dir, const char *case_id, int mode,
                  int classes, ss_volume *out)
{
    memset(out, 0, sizeof *out);
    char p[3][4096];
    ds_brats_paths(case_dir, case_id, mode, p);
    static const char *what[3] = {"T1Gd image", "FLAIR image", "label"};
    nifti_image *nim[3] = {NULL, NULL, NULL};
    float *img = NULL;
    uint8_t *lab = NULL;
    for (int k = 0; k < 3; k++)
        if (!(nim[k] = load(dataset, p[k], what[k])))
            goto fail;
    int64_t nx = nim[0]->nx, ny = nim[0]->ny, nz = nim[0]->nz;
    for (int k = 1; k < 3; k++)
        if (nim[k]->nx != nx || nim[k]->ny != ny || nim[k]->nz != nz) {
            ss_seterr("%s: %s is %lldx%lldx%lld but %s is %lldx%lldx%lld, expected co-registered "
                      "volumes of one size",
                      dataset, p[k], (long long)nim[k]->nx, (long long)nim[k]->ny,
                      (long long)nim[k]->nz, p[0], (long long)nx, (long long)ny, (long long)nz);
            goto fail;
        }
    size_t n = (size_t)(nx * ny * nz);
    img = malloc(2 * n * sizeof *img);
    lab = malloc(n);
    if (!img || !lab) {
        ss_seterr("%s: %s: out of memory", dataset, case_dir);
        goto fail;
    }
    for (int c = 0; c < 2; c++) {
        double sl = nim[c]->scl_slope, in = nim[c]->scl_inter;
        int scaled = sl != 0 && isfinite(sl) && (sl != 1 || in != 0);
        for (size_t i = 0; i < n; i++) {
            double v;
            if (!voxel(nim[c], i, &v)) {
                ss_seterr("%s: %s has NIfTI datatype %d, expected a real numeric type", dataset,
                          p[c], nim[c]->datatype);
                goto fail;
            }
            if (scaled)
                v = v * sl + in;
            if (!isfinite(v)) {
                ss_seterr("%s: %s holds a non-finite value at voxel %zu", dataset, p[c], i);
                goto fail;
            }
            img[c * n + i] = (float)v;
        }
    }
    for (size_t i = 0; i < n; i++) {
        double v;
        if (!voxel(nim[2], i, &v)) {
            ss_seterr("%s: %s has NIfTI datatype %d, expected integer or integral float labels",
                      dataset, p[2], nim[2]->datatype);
            goto fail;
        }
        if (!(v >= 0 && v < classes) || v != floor(v)) {
            ss_seterr("%s: %s: label value %g at voxel %zu, expected integers in [0, %d)", dataset,
                      p[2], v, i, classes);
            goto fail;
        }
        lab[i] = (uint8_t)v;
    }
    out->c = 2;
    out->d = (int)nz;
    out->h = (int)ny;
    out->w = (int)nx;
    out->image = img;
    out->label = lab;
    out->spacing[0] = nim[0]->dz > 0 ? nim[0]->dz : 1.0;
    out->spacing[1] = nim[0]->dy > 0 ? nim[0]->dy : 1.0;
    out->spacing[2] = nim[0]->dx > 0 ? nim[0]->dx : 1.0;
    for (int k = 0; k < 3; k++)
        nifti_image_free(nim[k]);
    return SS_OK;
fail:
    for (int k = 0; k < 3; k++)
        if (nim[k])
            nifti_image_free(nim[k]);
    free(img);
    free(lab);
    return SS_ERR;
}
