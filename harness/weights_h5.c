/* State-dict HDF5 I/O and whole-dataset helpers (see weights_h5.h). */
#include "weights_h5.h"

#include "kernels/error.h"

#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NBT_SUFFIX ".num_batches_tracked"

static void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* "(a,b,c)" into buf. */
static const char *dims_str(char *buf, size_t len, int rank, const long long *d)
{
    size_t o = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < rank && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "," : "", d[i]);
    if (o < len)
        snprintf(buf + o, len - o, ")");
    return buf;
}

/* Copies src into dst (size n), truncating. */
static void copy_name(char *dst, size_t n, const char *src)
{
    size_t l = strlen(src);
    if (l >= n)
        l = n - 1;
    memcpy(dst, src, l);
    dst[l] = '\0';
}

/* ---- writing: "<path>.tmp", then rename --------------------------------- */

typedef struct h5w {
    hid_t f;
    const char *path;
    char *tmp;
} h5w;

static int h5w_open(h5w *w, const char *path)
{
    h5_quiet();
    w->f = H5I_INVALID_HID;
    w->path = path;
    w->tmp = malloc(strlen(path) + 5);
    if (!w->tmp)
        return ss_seterr("h5: %s: out of memory", path);
    sprintf(w->tmp, "%s.tmp", path);
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fcpl >= 0) /* keep the state_dict order visible to readers that ask for it */
        H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    w->f = H5Fcreate(w->tmp, H5F_ACC_TRUNC, fcpl >= 0 ? fcpl : H5P_DEFAULT, H5P_DEFAULT);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (w->f < 0) {
        int rc = ss_seterr("h5: cannot create %s (for %s): is the directory there and writable?",
                           w->tmp, path);
        free(w->tmp);
        w->tmp = NULL;
        return rc;
    }
    return SS_OK;
}

static int h5w_write(h5w *w, const char *name, hid_t ftype, hid_t mtype, int rank,
                     const long long *dims, const void *data)
{
    hsize_t hd[SS_H5_MAX_RANK];
    if (rank < 0 || rank > SS_H5_MAX_RANK)
        return ss_seterr("h5: %s: dataset '%s' has rank %d (max %d)", w->path, name, rank,
                         SS_H5_MAX_RANK);
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return ss_seterr("h5: %s: dataset '%s' has a negative extent", w->path, name);
        hd[i] = (hsize_t)dims[i];
    }
    hid_t sp = rank ? H5Screate_simple(rank, hd, NULL) : H5Screate(H5S_SCALAR);
    hid_t ds = sp >= 0 ? H5Dcreate2(w->f, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
                       : H5I_INVALID_HID;
    herr_t st = ds >= 0 ? H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : -1;
    if (ds >= 0)
        H5Dclose(ds);
    if (sp >= 0)
        H5Sclose(sp);
    if (st < 0)
        return ss_seterr("h5: %s: cannot write dataset '%s' (duplicate name or disk full?)",
                         w->path, name);
    return SS_OK;
}

/* Closes the file; ok: flushes it to disk and renames it into place, else
 * removes it. Returns SS_OK only when the file is in place. */
static int h5w_finish(h5w *w, int ok)
{
    int rc = ok ? SS_OK : SS_ERR;
    if (w->f >= 0 && H5Fclose(w->f) < 0 && rc == SS_OK)
        rc = ss_seterr("h5: %s: closing %s failed", w->path, w->tmp);
    w->f = H5I_INVALID_HID;
    if (!w->tmp)
        return SS_ERR;
    if (rc == SS_OK) {
        int fd = open(w->tmp, O_RDONLY);
        if (fd < 0 || fsync(fd) != 0)
            rc = ss_seterr("h5: %s: cannot sync %s", w->path, w->tmp);
        if (fd >= 0)
            close(fd);
    }
    if (rc == SS_OK && rename(w->tmp, w->path) != 0)
        rc = ss_seterr("h5: cannot rename %s to %s", w->tmp, w->path);
    if (rc != SS_OK)
        remove(w->tmp);
    free(w->tmp);
    w->tmp = NULL;
    return rc;
}

int ss_h5_write_f32(const char *path, int n, const ss_h5_array *a)
{
    h5w w;
    if (h5w_open(&w, path) != SS_OK)
        return SS_ERR;
    int ok = 1;
    for (int i = 0; i < n && ok; i++)
        ok = h5w_write(&w, a[i].name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, a[i].rank, a[i].dims,
                       a[i].data) == SS_OK;
    return h5w_finish(&w, ok);
}

static int is_bn(const ss_nn *m, const char *prefix, size_t len)
{
    for (int b = 0; b < m->nbn; b++)
        if (strlen(m->bn[b]) == len && !strncmp(m->bn[b], prefix, len))
            return b;
    return -1;
}

/* The BN index whose running_var key this is (-1 when none). */
static int bn_of_running_var(const ss_nn *m, const char *key)
{
    static const char sfx[] = ".running_var";
    size_t n = strlen(key), s = sizeof sfx - 1;
    if (n <= s || strcmp(key + n - s, sfx))
        return -1;
    return is_bn(m, key, n - s);
}

static int write_nbt(h5w *w, const char *bn, long long v)
{
    char key[128];
    snprintf(key, sizeof key, "%s" NBT_SUFFIX, bn);
    int64_t x = v;
    return h5w_write(w, key, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, NULL, &x);
}

int ss_weights_save(const ss_nn *m, const char *path, long long num_batches_tracked)
{
    if (num_batches_tracked < 0)
        return ss_seterr("weights: %s: num_batches_tracked %lld < 0", path, num_batches_tracked);
    h5w w;
    if (h5w_open(&w, path) != SS_OK)
        return SS_ERR;
    char *done = calloc((size_t)m->nbn + 1, 1);
    int ok = done != NULL;
    if (!ok)
        ss_seterr("weights: %s: out of memory", path);
    for (int i = 0; i < m->n && ok; i++) {
        const ss_nn_entry *e = &m->e[i];
        const char *key = graph_name(m->g, e->t);
        ss_shape s = graph_shape(m->g, e->t);
        long long cnt = ss_numel(&s), want = 1, dims[SS_H5_MAX_RANK];
        for (int k = 0; k < e->rank; k++)
            want *= dims[k] = e->shape[k];
        if (cnt != want) {
            ok = 0;
            ss_seterr("weights: %s: key '%s' has %lld elements in the graph but %lld in its "
                      "PyTorch shape", path, key, cnt, want);
            break;
        }
        float *buf = malloc((size_t)cnt * sizeof(float));
        if (!buf) {
            ok = 0;
            ss_seterr("weights: %s: out of memory for '%s'", path, key);
            break;
        }
        if (graph_download(m->g, e->t, buf) != SS_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", semiseg_error());
            ss_seterr("weights: %s: cannot read '%s' from the graph (planned?): %s", path, key,
                      why);
            ok = 0;
        }
        ok = ok &&
             h5w_write(&w, key, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, e->rank, dims, buf) == SS_OK;
        free(buf);
        /* PyTorch order: ..., running_var, num_batches_tracked */
        int b = bn_of_running_var(m, key);
        if (ok && b >= 0 && !done[b]) {
            ok = write_nbt(&w, m->bn[b], num_batches_tracked) == SS_OK;
            done[b] = 1;
        }
    }
    for (int b = 0; b < m->nbn && ok; b++)
        if (!done[b])
            ok = write_nbt(&w, m->bn[b], num_batches_tracked) == SS_OK;
    free(done);
    return h5w_finish(&w, ok);
}

/* ---- reading ------------------------------------------------------------ */

static hid_t open_file(const char *path, const char *who)
{
    h5_quiet();
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        ss_seterr("%s: %s does not exist or cannot be read", who, path);
        return H5I_INVALID_HID;
    }
    fclose(probe);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        ss_seterr("%s: %s is not a readable HDF5 file (truncated or another format?)", who, path);
    return f;
}

/* Opens dataset `name`, checks it is float32/float64 of rank <= max, and
 * writes its dims. Returns the dataset or H5I_INVALID_HID (message set). */
static hid_t open_float(hid_t f, const char *path, const char *who, const char *name, int *rank,
                        long long *dims)
{
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0) {
        ss_seterr("%s: %s has no dataset '%s'", who, path, name);
        return H5I_INVALID_HID;
    }
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (ds < 0) {
        ss_seterr("%s: %s: '%s' is not a readable dataset", who, path, name);
        return H5I_INVALID_HID;
    }
    hid_t ty = H5Dget_type(ds), sp = H5Dget_space(ds);
    int r = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    int cls = ty >= 0 ? H5Tget_class(ty) : -1;
    size_t sz = ty >= 0 ? H5Tget_size(ty) : 0;
    int ok = 0;
    if (cls != H5T_FLOAT || (sz != 4 && sz != 8))
        ss_seterr("%s: %s: dataset '%s' is not float32 or float64 (HDF5 class %d, %zu bytes)", who,
                  path, name, cls, sz);
    else if (r < 0 || r > SS_H5_MAX_RANK)
        ss_seterr("%s: %s: dataset '%s' has an unsupported rank %d", who, path, name, r);
    else {
        hsize_t hd[SS_H5_MAX_RANK];
        if (r > 0)
            H5Sget_simple_extent_dims(sp, hd, NULL);
        for (int i = 0; i < r; i++)
            dims[i] = (long long)hd[i];
        *rank = r;
        ok = 1;
    }
    if (ty >= 0)
        H5Tclose(ty);
    if (sp >= 0)
        H5Sclose(sp);
    if (!ok) {
        H5Dclose(ds);
        return H5I_INVALID_HID;
    }
    return ds;
}

static float *read_all(hid_t ds, const char *path, const char *who, const char *name, int rank,
                       const long long *dims)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    float *buf = malloc((n ? n : 1) * sizeof(float));
    if (!buf) {
        ss_seterr("%s: %s: out of memory reading '%s'", who, path, name);
        return NULL;
    }
    if (n && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        ss_seterr("%s: %s: reading dataset '%s' failed (file damaged?)", who, path, name);
        free(buf);
        return NULL;
    }
    return buf;
}

float *ss_h5_read_f32(const char *path, const char *name, int *rank,
                     long long dims[SS_H5_MAX_RANK])
{
    hid_t f = open_file(path, "h5");
    if (f < 0)
        return NULL;
    float *buf = NULL;
    hid_t ds = open_float(f, path, "h5", name, rank, dims);
    if (ds >= 0) {
        buf = read_all(ds, path, "h5", name, *rank, dims);
        H5Dclose(ds);
    }
    H5Fclose(f);
    return buf;
}

/* Is a dataset of the file that is not an entry of m acceptable (a
 * num_batches_tracked of one of m's BN modules)? */
static int ignorable(const ss_nn *m, const char *key)
{
    size_t n = strlen(key), s = sizeof NBT_SUFFIX - 1;
    return n > s && !strcmp(key + n - s, NBT_SUFFIX) && is_bn(m, key, n - s) >= 0;
}

/* Counts the file's root links that m lacks; copies the first one's name. */
static int count_extra(const ss_nn *m, hid_t f, const char *path, int *extra, char *first,
                       size_t flen)
{
    H5G_info_t gi;
    if (H5Gget_info(f, &gi) < 0)
        return ss_seterr("weights: %s: cannot list the root group", path);
    *extra = 0;
    for (hsize_t i = 0; i < gi.nlinks; i++) {
        char name[512];
        ssize_t len = H5Lget_name_by_idx(f, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                                         H5P_DEFAULT);
        if (len < 0)
            return ss_seterr("weights: %s: cannot read the name of link %llu", path,
                             (unsigned long long)i);
        if (nn_find(m, name) >= 0 || ignorable(m, name))
            continue;
        if (!(*extra)++)
            copy_name(first, flen, name);
    }
    return SS_OK;
}

/* Pass 1: every present key has a float dataset of the right shape; counts
 * missing keys (present[i] says which are there). */
static int check_entries(const ss_nn *m, hid_t f, const char *path, char *present, int *missing,
                         char *first, size_t flen)
{
    *missing = 0;
    for (int i = 0; i < m->n; i++) {
        const ss_nn_entry *e = &m->e[i];
        const char *key = graph_name(m->g, e->t);
        present[i] = H5Lexists(f, key, H5P_DEFAULT) > 0;
        if (!present[i]) {
            if (!(*missing)++)
                copy_name(first, flen, key);
            continue;
        }
        int rank;
        long long dims[SS_H5_MAX_RANK], want[5];
        hid_t ds = open_float(f, path, "weights", key, &rank, dims);
        if (ds < 0)
            return SS_ERR;
        H5Dclose(ds);
        int same = rank == e->rank;
        for (int k = 0; k < e->rank; k++) {
            want[k] = e->shape[k];
            same = same && dims[k] == want[k];
        }
        if (!same) {
            char a[128], b[128];
            return ss_seterr("weights: %s: key '%s' has shape %s in the file, the model wants %s",
                             path, key, dims_str(a, sizeof a, rank, dims),
                             dims_str(b, sizeof b, e->rank, want));
        }
    }
    return SS_OK;
}

int ss_weights_load_stats(ss_nn *m, const char *path, int strict, ss_weights_stats *st)
{
    ss_weights_stats s = {0, 0, 0};
    hid_t f = open_file(path, "weights");
    if (f < 0)
        return SS_ERR;
    int rc = SS_ERR;
    char first_missing[256] = "", first_extra[256] = "";
    char *present = calloc((size_t)m->n + 1, 1);
    if (!present) {
        ss_seterr("weights: %s: out of memory", path);
        goto out;
    }
    if (check_entries(m, f, path, present, &s.missing, first_missing, sizeof first_missing) ||
        count_extra(m, f, path, &s.extra, first_extra, sizeof first_extra))
        goto out;
    if (strict && (s.missing || s.extra)) {
        char a[400] = "", b[400] = "";
        if (s.missing)
            snprintf(a, sizeof a, "; %d key(s) of the model missing from the file (first '%s')",
                     s.missing, first_missing);
        if (s.extra)
            snprintf(b, sizeof b, "; %d key(s) in the file the model lacks (first '%s')", s.extra,
                     first_extra);
        ss_seterr("weights: %s does not match the model (strict load)%s%s", path, a, b);
        goto out;
    }
    for (int i = 0; i < m->n; i++) {
        if (!present[i])
            continue;
        const char *key = graph_name(m->g, m->e[i].t);
        int rank;
        long long dims[SS_H5_MAX_RANK];
        hid_t ds = open_float(f, path, "weights", key, &rank, dims);
        float *buf = ds >= 0 ? read_all(ds, path, "weights", key, rank, dims) : NULL;
        if (ds >= 0)
            H5Dclose(ds);
        if (!buf)
            goto out;
        int up = graph_upload(m->g, m->e[i].t, buf);
        free(buf);
        if (up != SS_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", semiseg_error());
            ss_seterr("weights: %s: cannot upload '%s' (graph planned?): %s", path, key, why);
            goto out;
        }
        s.loaded++;
    }
    rc = SS_OK;
out:
    free(present);
    H5Fclose(f);
    if (st)
        *st = s;
    return rc;
}

int ss_weights_load(ss_nn *m, const char *path, int strict)
{
    ss_weights_stats s;
    int rc = ss_weights_load_stats(m, path, strict, &s);
    if (rc == SS_OK && (s.missing || s.extra))
        fprintf(stderr,
                "weights: %s: loaded %d tensors; skipped %d missing and %d unexpected keys\n", path,
                s.loaded, s.missing, s.extra);
    return rc;
}
