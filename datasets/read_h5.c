/* HDF5 cases (LA, Pancreas, ACDC slices and volumes): datasets `image` and
 * `label`; every other dataset in the file is ignored. */
#include "datasets/ds_impl.h"
#include "kernels/error.h"

#include <hdf5.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t g_h5 = PTHREAD_MUTEX_INITIALIZER;
void ds_h5_lock(void) { pthread_mutex_lock(&g_h5); }
void ds_h5_unlock(void) { pthread_mutex_unlock(&g_h5); }

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER:
        return "integer";
    case H5T_FLOAT:
        return "floating-point";
    case H5T_STRING:
        return "string";
    case H5T_COMPOUND:
        return "compound";
    default:
        return "non-numeric";
    }
}

typedef struct dsinfo {
    hid_t d;
    H5T_class_t cls;
    size_t size;
    int is_signed;
    int rank;
    hsize_t dims[8];
} dsinfo;

static int open_ds(hid_t f, const char *dataset, const char *path, const char *key, dsinfo *o)
{
    o->d = -1;
    htri_t ex = H5Lexists(f, key, H5P_DEFAULT);
    if (ex <= 0)
        return ss_seterr("%s: %s has no dataset '%s' (expected datasets 'image' and 'label')",
                         dataset, path, key);
    o->d = H5Dopen2(f, key, H5P_DEFAULT);
    if (o->d < 0)
        return ss_seterr("%s: %s: cannot open dataset '%s'", dataset, path, key);
    hid_t t = H5Dget_type(o->d), sp = H5Dget_space(o->d);
    o->cls = H5Tget_class(t);
    o->size = H5Tget_size(t);
    o->is_signed = o->cls == H5T_INTEGER && H5Tget_sign(t) == H5T_SGN_2;
    o->rank = H5Sget_simple_extent_ndims(sp);
    if (o->rank > 0 && o->rank <= 8)
        H5Sget_simple_extent_dims(sp, o->dims, NULL);
    H5Tclose(t);
    H5Sclose(sp);
    return SS_OK;
}

static void fmt_dims(const dsinfo *d, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < d->rank && i < 8 && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%llu", i ? "x" : "", (unsigned long long)d->dims[i]);
}

static int read_locked(const char *dataset, const char *path, int rank, int xyz, int classes,
                       ss_volume *out, float **img_out, uint8_t **lab_out, size_t *nvox)
{
    *img_out = NULL;
    *lab_out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (!ds_file_exists(path))
        return ss_seterr("%s: %s does not exist", dataset, path);
    htri_t is = H5Fis_hdf5(path);
    hid_t f = is > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    if (f < 0)
        return ss_seterr("%s: %s cannot be opened as HDF5 (truncated or not an HDF5 file; "
                         "expected datasets 'image' and 'label')",
                         dataset, path);
    dsinfo im = {.d = -1}, lb = {.d = -1};
    int rc = SS_ERR;
    char s1[128], s2[128];
    if (open_ds(f, dataset, path, "image", &im) != 0 || open_ds(f, dataset, path, "label", &lb) != 0)
        goto done;
    if (im.cls != H5T_FLOAT) {
        ss_seterr("%s: %s: dataset 'image' is %s (%zu bytes), expected floating point", dataset,
                  path, class_name(im.cls), im.size);
        goto done;
    }
    if (lb.cls != H5T_INTEGER && lb.cls != H5T_FLOAT) {
        ss_seterr("%s: %s: dataset 'label' is %s, expected uint8 or integral float", dataset, path,
                  class_name(lb.cls));
        goto done;
    }
    if (im.rank != rank || lb.rank != rank) {
        ss_seterr("%s: %s: 'image' has rank %d and 'label' rank %d, expected rank %d (%s)", dataset,
                  path, im.rank, lb.rank, rank,
                  rank == 2 ? "H x W slice" : xyz ? "W x H x D volume" : "D x H x W volume");
        goto done;
    }
    for (int i = 0; i < rank; i++)
        if (im.dims[i] != lb.dims[i] || im.dims[i] == 0) {
            fmt_dims(&im, s1, sizeof s1);
            fmt_dims(&lb, s2, sizeof s2);
            ss_seterr("%s: %s: 'image' is %s but 'label' is %s, expected equal non-empty shapes",
                      dataset, path, s1, s2);
            goto done;
        }
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)im.dims[i];
    float *img = malloc(n * sizeof *img);
    uint8_t *lab = malloc(n);
    *img_out = img;
    *lab_out = lab;
    if (!img || !lab) {
        ss_seterr("%s: %s: out of memory for %zu voxels", dataset, path, n);
        goto done;
    }
    if (H5Dread(im.d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, img) < 0) {
        ss_seterr("%s: %s: reading dataset 'image' failed (file truncated or corrupt?)", dataset,
                  path);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(img[i])) {
            ss_seterr("%s: %s: 'image' holds a non-finite value at element %zu", dataset, path, i);
            goto done;
        }
    if (lb.cls == H5T_INTEGER && lb.size == 1 && !lb.is_signed) {
        if (H5Dread(lb.d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab) < 0) {
            ss_seterr("%s: %s: reading dataset 'label' failed (file truncated or corrupt?)",
                      dataset, path);
            goto done;
        }
        for (size_t i = 0; i < n; i++)
            if (lab[i] >= classes) {
                ss_seterr("%s: %s: 'label' value %d at element %zu, expected values in [0, %d)",
                          dataset, path, lab[i], i, classes);
                goto done;
            }
    } else {
        double *tmp = malloc(n * sizeof *tmp);
        if (!tmp) {
            ss_seterr("%s: %s: out of memory for %zu voxels", dataset, path, n);
            goto done;
        }
        if (H5Dread(lb.d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0) {
            free(tmp);
            ss_seterr("%s: %s: reading dataset 'label' failed (file truncated or corrupt?)",
                      dataset, path);
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            double v = tmp[i];
            if (!(v >= 0 && v < classes) || v != floor(v)) {
                ss_seterr("%s: %s: 'label' value %g at element %zu, expected integers in [0, %d)",
                          dataset, path, v, i, classes);
                free(tmp);
                goto done;
            }
            lab[i] = (uint8_t)v;
        }
        free(tmp);
    }
    *nvox = n;
    out->c = 1;
    if (rank == 2) {
        out->d = 1;
        out->h = (int)im.dims[0];
        out->w = (int)im.dims[1];
    } else if (xyz) {
        out->w = (int)im.dims[0];
        out->h = (int)im.dims[1];
        out->d = (int)im.dims[2];
    } else {
        out->d = (int)im.dims[0];
        out->h = (int)im.dims[1];
        out->w = (int)im.dims[2];
    }
    rc = SS_OK;
done:
    if (im.d >= 0)
        H5Dclose(im.d);
    if (lb.d >= 0)
        H5Dclose(lb.d);
    H5Fclose(f);
    return rc;
}

int ds_read_h5(const char *dataset, const char *path, int rank, int xyz, int classes,
               ss_volume *out)
{
    memset(out, 0, sizeof *out);
    float *img;
    uint8_t *lab;
    size_t n = 0;
    ds_h5_lock();
    int rc = read_locked(dataset, path, rank, xyz, classes, out, &img, &lab, &n);
    ds_h5_unlock();
    if (rc != 0) {
        free(img);
        free(lab);
        memset(out, 0, sizeof *out);
        return rc;
    }
    if (rank == 3 && xyz) {
        /* stored [x][y][z] -> [z][y][x] */
        int D = out->d, H = out->h, W = out->w;
        float *ti = malloc(n * sizeof *ti);
        uint8_t *tl = malloc(n);
        if (!ti || !tl) {
            free(ti);
            free(tl);
            free(img);
            free(lab);
            memset(out, 0, sizeof *out);
            return ss_seterr("%s: %s: out of memory for %zu voxels", dataset, path, n);
        }
        for (int x = 0; x < W; x++)
            for (int y = 0; y < H; y++) {
                const float *si = img + ((size_t)x * H + y) * D;
                const uint8_t *sl = lab + ((size_t)x * H + y) * D;
                for (int z = 0; z < D; z++) {
                    size_t o = ((size_t)z * H + y) * W + x;
                    ti[o] = si[z];
                    tl[o] = sl[z];
                }
            }
        free(img);
        free(lab);
        img = ti;
        lab = tl;
    }
    out->image = img;
    out->label = lab;
    out->spacing[0] = out->spacing[1] = out->spacing[2] = 1.0;
    return SS_OK;
}
