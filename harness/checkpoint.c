/* Training checkpoints in HDF5 (see checkpoint.h). */
#include "checkpoint.h"

#include "kernels/error.h"

#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static int write_f32(hid_t loc, const char *name, const float *x, size_t n)
{
    hsize_t d = n;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    hid_t ds = sp >= 0 ? H5Dcreate2(loc, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                                    H5P_DEFAULT)
                       : -1;
    herr_t st = ds >= 0 ? H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) : -1;
    if (ds >= 0)
        H5Dclose(ds);
    if (sp >= 0)
        H5Sclose(sp);
    return st < 0 ? SS_ERR : SS_OK;
}

static int attr_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = a >= 0 ? H5Awrite(a, mtype, v) : -1;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return st < 0 ? SS_ERR : SS_OK;
}

static int attr_read(hid_t loc, const char *name, hid_t mtype, void *v)
{
    if (H5Aexists(loc, name) <= 0)
        return SS_ERR;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    herr_t st = a >= 0 ? H5Aread(a, mtype, v) : -1;
    if (a >= 0)
        H5Aclose(a);
    return st < 0 ? SS_ERR : SS_OK;
}

static int write_string(hid_t loc, const char *name, const char *s, int as_attr)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(s) + 1);
    int rc;
    if (as_attr) {
        rc = attr_write(loc, name, t, t, s);
    } else {
        hid_t sp = H5Screate(H5S_SCALAR);
        hid_t ds = H5Dcreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        rc = ds >= 0 && H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) >= 0 ? SS_OK : SS_ERR;
        if (ds >= 0)
            H5Dclose(ds);
        H5Sclose(sp);
    }
    H5Tclose(t);
    return rc;
}

/* Reads a string dataset or attribute (malloc'd). */
static char *read_string(hid_t loc, const char *name, int as_attr)
{
    hid_t obj = -1, t = -1;
    if (as_attr) {
        if (H5Aexists(loc, name) <= 0)
            return NULL;
        obj = H5Aopen(loc, name, H5P_DEFAULT);
        t = obj >= 0 ? H5Aget_type(obj) : -1;
    } else {
        if (H5Lexists(loc, name, H5P_DEFAULT) <= 0)
            return NULL;
        obj = H5Dopen2(loc, name, H5P_DEFAULT);
        t = obj >= 0 ? H5Dget_type(obj) : -1;
    }
    char *s = NULL;
    if (t >= 0 && H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t)) {
        size_t n = H5Tget_size(t);
        s = calloc(n + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, n);
        herr_t st = as_attr ? H5Aread(obj, mt, s) : H5Dread(obj, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, s);
        H5Tclose(mt);
        if (st < 0) {
            free(s);
            s = NULL;
        }
    }
    if (t >= 0)
        H5Tclose(t);
    if (obj >= 0)
        as_attr ? H5Aclose(obj) : H5Dclose(obj);
    return s;
}

static size_t numel_of(const ss_graph *g, int t)
{
    ss_shape s = graph_shape(g, t);
    return (size_t)ss_numel(&s);
}

static size_t max_numel(const ss_train_ctx *c)
{
    size_t m = 1;
    for (int k = 0; k < c->n_nets; k++)
        for (int i = 0; i < c->nets[k]->n; i++) {
            size_t n = numel_of(c->nets[k]->g, c->nets[k]->e[i].t);
            if (n > m)
                m = n;
        }
    return m;
}

static int save_body(hid_t f, const ss_train_ctx *c, const ss_ckpt_meta *m, const char *spec)
{
    int fmt = SS_CKPT_FORMAT;
    long long it = m->iteration, bi = m->best_iter;
    unsigned long long cur = m->cursor;
    if (attr_write(f, "format", H5T_STD_I32LE, H5T_NATIVE_INT, &fmt) ||
        write_string(f, "method", m->method, 1) ||
        attr_write(f, "iteration", H5T_STD_I64LE, H5T_NATIVE_LLONG, &it) ||
        attr_write(f, "cursor", H5T_STD_U64LE, H5T_NATIVE_ULLONG, &cur) ||
        attr_write(f, "best_score", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &m->best_score) ||
        attr_write(f, "best_iter", H5T_STD_I64LE, H5T_NATIVE_LLONG, &bi) ||
        write_string(f, "spec", spec ? spec : "", 0))
        return SS_ERR;
    float *buf = malloc(max_numel(c) * sizeof(float));
    if (!buf)
        return SS_ERR;
    int rc = SS_OK;
    hid_t nets = H5Gcreate2(f, "nets", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (int k = 0; k < c->n_nets && rc == SS_OK; k++) {
        const ss_nn *nn = c->nets[k];
        hid_t gk = H5Gcreate2(nets, c->net_name[k], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        for (int i = 0; i < nn->n && rc == SS_OK; i++) {
            int t = nn->e[i].t;
            rc = graph_download(nn->g, t, buf) ||
                 write_f32(gk, graph_name(nn->g, t), buf, numel_of(nn->g, t));
        }
        H5Gclose(gk);
    }
    H5Gclose(nets);
    hid_t opts = H5Gcreate2(f, "optim", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (int k = 0; k < c->n_opts && rc == SS_OK; k++) {
        ss_optim *o = c->opts[k];
        hid_t gk = H5Gcreate2(opts, c->opt_name[k], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        long long steps = ss_optim_steps(o);
        double lr = ss_optim_lr(o);
        rc = attr_write(gk, "steps", H5T_STD_I64LE, H5T_NATIVE_LLONG, &steps) ||
             attr_write(gk, "lr", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &lr);
        ss_graph *g = o->g;
        for (int i = 0; i < ss_optim_n_state(o) && rc == SS_OK; i++) {
            int t;
            const char *slot;
            float *data;
            ss_optim_state(o, i, &t, &slot, &data);
            if (H5Lexists(gk, slot, H5P_DEFAULT) <= 0) {
                hid_t gs = H5Gcreate2(gk, slot, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
                H5Gclose(gs);
            }
            hid_t gs = H5Gopen2(gk, slot, H5P_DEFAULT);
            rc = write_f32(gs, graph_name(g, t), data, numel_of(g, t));
            H5Gclose(gs);
        }
        H5Gclose(gk);
    }
    H5Gclose(opts);
    free(buf);
    return rc ? SS_ERR : SS_OK;
}

int ss_checkpoint_save(const char *path, const ss_train_ctx *c, const ss_ckpt_meta *m,
                       const char *spec_text)
{
    quiet();
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        return ss_seterr("checkpoint: cannot create %s (is the directory there and writable?)", tmp);
    int rc = save_body(f, c, m, spec_text);
    if (H5Fclose(f) < 0)
        rc = SS_ERR;
    if (rc == SS_OK) {
        int fd = open(tmp, O_RDONLY);
        if (fd < 0 || fsync(fd) != 0)
            rc = SS_ERR;
        if (fd >= 0)
            close(fd);
    }
    if (rc == SS_OK && rename(tmp, path) != 0)
        rc = SS_ERR;
    if (rc != SS_OK) {
        remove(tmp);
        return ss_seterr("checkpoint: writing %s failed (disk full?)", path);
    }
    return SS_OK;
}

static hid_t open_ckpt(const char *path)
{
    quiet();
    if (access(path, R_OK) != 0) {
        ss_seterr("checkpoint %s: no such file", path);
        return -1;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        ss_seterr("checkpoint %s: not a readable HDF5 file (damaged or truncated?)", path);
        return -1;
    }
    int fmt = 0;
    if (attr_read(f, "format", H5T_NATIVE_INT, &fmt) || fmt != SS_CKPT_FORMAT) {
        H5Fclose(f);
        ss_seterr("checkpoint %s: not a semiseg training checkpoint (format attribute %d, expected %d)",
                  path, fmt, SS_CKPT_FORMAT);
        return -1;
    }
    return f;
}

int ss_checkpoint_spec(const char *path, char **text, char method[64])
{
    hid_t f = open_ckpt(path);
    if (f < 0)
        return SS_ERR;
    char *s = read_string(f, "spec", 0), *m = read_string(f, "method", 1);
    H5Fclose(f);
    if (!s || !m) {
        free(s);
        free(m);
        return ss_seterr("checkpoint %s: the spec or method name is missing or unreadable", path);
    }
    snprintf(method, 64, "%s", m);
    free(m);
    *text = s;
    return SS_OK;
}

/* Reads dataset loc/name of exactly n floats into buf (check only when buf NULL). */
static int read_f32(hid_t loc, const char *path, const char *where, const char *name, size_t n,
                    float *buf)
{
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0)
        return ss_seterr("checkpoint %s: '%s/%s' is missing (written by another method or model?)",
                         path, where, name);
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1;
    hssize_t cnt = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    int rc = SS_OK;
    if (cnt != (hssize_t)n)
        rc = ss_seterr("checkpoint %s: '%s/%s' holds %lld values, the model needs %zu", path, where,
                       name, (long long)cnt, n);
    else if (buf && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = ss_seterr("checkpoint %s: '%s/%s' cannot be read (damaged file?)", path, where, name);
    if (sp >= 0)
        H5Sclose(sp);
    if (ds >= 0)
        H5Dclose(ds);
    return rc;
}

/* pass 0 checks every key and size; pass 1 reads and uploads. */
static int load_pass(hid_t f, const char *path, ss_train_ctx *c, int weights_only, int pass,
                     float *buf)
{
    for (int k = 0; k < c->n_nets; k++) {
        ss_nn *nn = c->nets[k];
        char where[96];
        snprintf(where, sizeof where, "nets/%s", c->net_name[k]);
        if (H5Lexists(f, "nets", H5P_DEFAULT) <= 0 || H5Lexists(f, where, H5P_DEFAULT) <= 0)
            return ss_seterr("checkpoint %s: network '%s' is missing", path, c->net_name[k]);
        hid_t g = H5Gopen2(f, where, H5P_DEFAULT);
        for (int i = 0; i < nn->n; i++) {
            int t = nn->e[i].t;
            if (read_f32(g, path, where, graph_name(nn->g, t), numel_of(nn->g, t), pass ? buf : NULL) ||
                (pass && graph_upload(nn->g, t, buf))) {
                H5Gclose(g);
                return SS_ERR;
            }
        }
        H5Gclose(g);
    }
    if (weights_only)
        return SS_OK;
    for (int k = 0; k < c->n_opts; k++) {
        ss_optim *o = c->opts[k];
        ss_graph *gr = o->g;
        char where[96];
        snprintf(where, sizeof where, "optim/%s", c->opt_name[k]);
        if (H5Lexists(f, "optim", H5P_DEFAULT) <= 0 || H5Lexists(f, where, H5P_DEFAULT) <= 0)
            return ss_seterr("checkpoint %s: optimizer '%s' is missing", path, c->opt_name[k]);
        hid_t g = H5Gopen2(f, where, H5P_DEFAULT);
        long long steps = 0;
        double lr = 0;
        if (attr_read(g, "steps", H5T_NATIVE_LLONG, &steps) || attr_read(g, "lr", H5T_NATIVE_DOUBLE, &lr)) {
            H5Gclose(g);
            return ss_seterr("checkpoint %s: optimizer '%s' lacks its step count or lr", path,
                             c->opt_name[k]);
        }
        for (int i = 0; i < ss_optim_n_state(o); i++) {
            int t;
            const char *slot;
            float *data;
            ss_optim_state(o, i, &t, &slot, &data);
            char w2[160];
            snprintf(w2, sizeof w2, "%s/%s", where, slot);
            if (H5Lexists(g, slot, H5P_DEFAULT) <= 0) {
                H5Gclose(g);
                return ss_seterr("checkpoint %s: '%s' is missing (another optimizer kind?)", path, w2);
            }
            hid_t gs = H5Gopen2(g, slot, H5P_DEFAULT);
            size_t n = numel_of(gr, t);
            int rc = read_f32(gs, path, w2, graph_name(gr, t), n, pass ? buf : NULL);
            if (rc == SS_OK && pass)
                memcpy(data, buf, n * sizeof(float));
            H5Gclose(gs);
            if (rc) {
                H5Gclose(g);
                return SS_ERR;
            }
        }
        if (pass) {
            ss_optim_set_steps(o, (long)steps);
            ss_optim_set_lr(o, lr);
        }
        H5Gclose(g);
    }
    return SS_OK;
}

int ss_checkpoint_load(const char *path, ss_train_ctx *c, ss_ckpt_meta *m, int weights_only)
{
    hid_t f = open_ckpt(path);
    if (f < 0)
        return SS_ERR;
    ss_ckpt_meta mm;
    memset(&mm, 0, sizeof mm);
    long long it = 0, bi = 0;
    unsigned long long cur = 0;
    char *method = read_string(f, "method", 1);
    int rc = SS_OK;
    if (!method || attr_read(f, "iteration", H5T_NATIVE_LLONG, &it) ||
        attr_read(f, "cursor", H5T_NATIVE_ULLONG, &cur) ||
        attr_read(f, "best_score", H5T_NATIVE_DOUBLE, &mm.best_score) ||
        attr_read(f, "best_iter", H5T_NATIVE_LLONG, &bi))
        rc = ss_seterr("checkpoint %s: iteration, cursor, best score or method is missing", path);
    if (rc == SS_OK) {
        snprintf(mm.method, sizeof mm.method, "%s", method);
        mm.iteration = (long)it;
        mm.best_iter = (long)bi;
        mm.cursor = cur;
        if (m && m->method[0] && strcmp(m->method, mm.method))
            rc = ss_seterr("checkpoint %s: written by method '%s', this run is '%s'", path,
                           mm.method, m->method);
    }
    free(method);
    float *buf = rc == SS_OK ? malloc(max_numel(c) * sizeof(float)) : NULL;
    if (rc == SS_OK && !buf)
        rc = ss_seterr("checkpoint %s: out of memory", path);
    if (rc == SS_OK)
        rc = load_pass(f, path, c, weights_only, 0, buf);
    if (rc == SS_OK)
        rc = load_pass(f, path, c, weights_only, 1, buf);
    free(buf);
    H5Fclose(f);
    if (rc == SS_OK && m)
        *m = mm;
    return rc;
}
