#include "h5read.h"

#include "kernels/error.h"

#include <hdf5.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct h5r_file {
    hid_t id;
    char path[1024];
};

h5r_file *h5r_open(const char *path)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors come back as messages, not stack dumps */
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        ss_seterr("h5read: fixture file %s does not exist or cannot be read", path);
        return NULL;
    }
    fclose(probe);
    hid_t id = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (id < 0) {
        ss_seterr("h5read: %s is not a readable HDF5 file", path);
        return NULL;
    }
    h5r_file *f = calloc(1, sizeof *f);
    if (!f) {
        H5Fclose(id);
        ss_seterr("h5read: out of memory");
        return NULL;
    }
    f->id = id;
    snprintf(f->path, sizeof f->path, "%s", path);
    return f;
}

void h5r_close(h5r_file *f)
{
    if (!f)
        return;
    H5Fclose(f->id);
    free(f);
}

const char *h5r_path(const h5r_file *f) { return f->path; }

int h5r_has(h5r_file *f, const char *name) { return H5Lexists(f->id, name, H5P_DEFAULT) > 0; }

float *h5r_read(h5r_file *f, const char *name, ss_shape *shape)
{
    if (!h5r_has(f, name)) {
        ss_seterr("h5read: %s has no dataset '%s'", f->path, name);
        return NULL;
    }
    float *data = NULL;
    hid_t ds = H5Dopen2(f->id, name, H5P_DEFAULT);
    hid_t sp = ds >= 0 ? H5Dget_space(ds) : H5I_INVALID_HID;
    hid_t ty = ds >= 0 ? H5Dget_type(ds) : H5I_INVALID_HID;
    if (ds < 0 || sp < 0 || ty < 0) {
        ss_seterr("h5read: %s: cannot open dataset '%s'", f->path, name);
        goto out;
    }
    if (H5Tget_class(ty) != H5T_FLOAT) {
        ss_seterr("h5read: %s: dataset '%s' is not floating point", f->path, name);
        goto out;
    }
    int rank = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[SS_NDIM] = {1, 1, 1, 1, 1};
    if (rank != 0 && rank != 1 && rank != SS_NDIM) {
        ss_seterr("h5read: %s: dataset '%s' has rank %d (want 0, 1 or 5)", f->path, name, rank);
        goto out;
    }
    if (rank > 0)
        H5Sget_simple_extent_dims(sp, dims, NULL);
    size_t n = 1;
    for (int i = 0; i < SS_NDIM; i++) {
        if (dims[i] < 1 || dims[i] > INT_MAX) {
            ss_seterr("h5read: %s: dataset '%s' has dimension %d of size %llu", f->path, name, i,
                      (unsigned long long)dims[i]);
            goto out;
        }
        shape->d[i] = (int)dims[i];
        n *= (size_t)dims[i];
    }
    data = malloc(n * sizeof(float));
    if (!data) {
        ss_seterr("h5read: out of memory reading '%s'", name);
        goto out;
    }
    if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        ss_seterr("h5read: %s: cannot read dataset '%s'", f->path, name);
        free(data);
        data = NULL;
    }
out:
    if (ty >= 0)
        H5Tclose(ty);
    if (sp >= 0)
        H5Sclose(sp);
    if (ds >= 0)
        H5Dclose(ds);
    return data;
}

/* Reads n values of a root attribute converted to mem_type into out. */
static int attr_read(h5r_file *f, const char *name, hid_t mem_type, void *out, int n)
{
    if (H5Aexists_by_name(f->id, "/", name, H5P_DEFAULT) <= 0)
        return ss_seterr("h5read: %s has no attribute '%s'", f->path, name);
    int rc = SS_ERR;
    hid_t at = H5Aopen_by_name(f->id, "/", name, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = at >= 0 ? H5Aget_space(at) : H5I_INVALID_HID;
    hid_t ty = at >= 0 ? H5Aget_type(at) : H5I_INVALID_HID;
    if (at < 0 || sp < 0 || ty < 0) {
        ss_seterr("h5read: %s: cannot open attribute '%s'", f->path, name);
        goto out;
    }
    H5T_class_t cls = H5Tget_class(ty);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        ss_seterr("h5read: %s: attribute '%s' is not numeric", f->path, name);
        goto out;
    }
    hssize_t cnt = H5Sget_simple_extent_npoints(sp);
    if (cnt != n) {
        ss_seterr("h5read: %s: attribute '%s' has %lld values (want %d)", f->path, name,
                  (long long)cnt, n);
        goto out;
    }
    if (H5Aread(at, mem_type, out) < 0) {
        ss_seterr("h5read: %s: cannot read attribute '%s'", f->path, name);
        goto out;
    }
    rc = SS_OK;
out:
    if (ty >= 0)
        H5Tclose(ty);
    if (sp >= 0)
        H5Sclose(sp);
    if (at >= 0)
        H5Aclose(at);
    return rc;
}

int h5r_attr_ints(h5r_file *f, const char *name, int *out, int n)
{
    return attr_read(f, name, H5T_NATIVE_INT, out, n);
}

int h5r_attr_doubles(h5r_file *f, const char *name, double *out, int n)
{
    return attr_read(f, name, H5T_NATIVE_DOUBLE, out, n);
}
