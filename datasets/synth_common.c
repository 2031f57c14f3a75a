/* Pieces shared by the synthetic twins: seeded random streams, smooth random
 * fields, intensity normalisation, and writers for list, HDF5, NIfTI, PNG and
 * JPEG files whose bytes depend only on their input. */
#include "datasets/ds_impl.h"
#include "kernels/error.h"
#include "kernels/rng.h"

#include <hdf5.h>
#include <math.h>
#include <nifti/nifti2_io.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <jpeglib.h> /* after stdio.h: uses FILE */
#include <stdlib.h>
#include <string.h>

#define SY_PI 3.14159265358979323846

sy_rng sy_rng_make(uint64_t seed, uint32_t stream, uint64_t step)
{
    sy_rng r = {seed, stream, step, 0, UINT64_MAX, {0, 0, 0, 0}};
    return r;
}

/* Element n of the stream: the same bits as ss_rng_bits(seed, stream, step,
 * n), one Philox block per four elements. */
static uint32_t bits(sy_rng *r)
{
    uint64_t e = r->n++, blk = e >> 2;
    if (blk != r->blk) {
        uint32_t key[2] = {(uint32_t)r->seed, (uint32_t)(r->seed >> 32)};
        uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), (uint32_t)r->step, r->stream};
        ss_philox4x32_10(key, ctr, r->out);
        r->blk = blk;
    }
    return r->out[e & 3];
}

double sy_uniform(sy_rng *r)
{
    uint32_t a = bits(r);
    uint32_t b = bits(r);
    return ((double)(a >> 5) * 67108864.0 + (double)(b >> 6)) * (1.0 / 9007199254740992.0);
}

double sy_range(sy_rng *r, double lo, double hi) { return lo + (hi - lo) * sy_uniform(r); }

int sy_int(sy_rng *r, int lo, int hi)
{
    int v = lo + (int)floor(sy_uniform(r) * (hi - lo + 1));
    return v > hi ? hi : v;
}

double sy_normal(sy_rng *r)
{
    double u = sy_uniform(r), v = sy_uniform(r);
    return sqrt(-2.0 * log(1.0 - u)) * cos(2 * SY_PI * v);
}

void sy_field_make(sy_field *f, sy_rng *r, int nw, double minlen)
{
    if (nw > 12)
        nw = 12;
    f->nw = nw;
    double norm = 0;
    for (int i = 0; i < nw; i++) {
        /* random direction, wavelength in [minlen, 3 minlen] */
        double z = sy_range(r, -1, 1), t = sy_range(r, 0, 2 * SY_PI), s = sqrt(1 - z * z);
        double kk = 2 * SY_PI / (minlen * sy_range(r, 1, 3));
        f->k[i][0] = kk * z;
        f->k[i][1] = kk * s * cos(t);
        f->k[i][2] = kk * s * sin(t);
        f->ph[i] = sy_range(r, 0, 2 * SY_PI);
        f->a[i] = sy_range(r, 0.5, 1);
        norm += f->a[i] * f->a[i] / 2;
    }
    norm = norm > 0 ? 1 / sqrt(norm) : 0;
    for (int i = 0; i < nw; i++)
        f->a[i] *= norm;
}

double sy_field_at(const sy_field *f, double z, double y, double x)
{
    double v = 0;
    for (int i = 0; i < f->nw; i++)
        v += f->a[i] * cos(f->k[i][0] * z + f->k[i][1] * y + f->k[i][2] * x + f->ph[i]);
    return v;
}

int sy_field_grid(const sy_field *f, int D, int H, int W, float *out)
{
    size_t n = (size_t)D * H * W;
    double *t = malloc(2 * (size_t)(D + H + W) * sizeof *t);
    if (!t)
        return ss_seterr("out of memory evaluating a random field");
    double *cz = t, *sz = cz + D, *cy = sz + D, *syv = cy + H, *cx = syv + H, *sx = cx + W;
    for (size_t i = 0; i < n; i++)
        out[i] = 0;
    for (int k = 0; k < f->nw; k++) {
        for (int z = 0; z < D; z++) {
            cz[z] = f->a[k] * cos(f->k[k][0] * z + f->ph[k]);
            sz[z] = f->a[k] * sin(f->k[k][0] * z + f->ph[k]);
        }
        for (int y = 0; y < H; y++) {
            cy[y] = cos(f->k[k][1] * y);
            syv[y] = sin(f->k[k][1] * y);
        }
        for (int x = 0; x < W; x++) {
            cx[x] = cos(f->k[k][2] * x);
            sx[x] = sin(f->k[k][2] * x);
        }
        for (int z = 0; z < D; z++)
            for (int y = 0; y < H; y++) {
                /* e^{i(kz z + ph)} e^{i ky y} = a + i b; Re((a + i b) e^{i kx x}) */
                double a = cz[z] * cy[y] - sz[z] * syv[y], b = cz[z] * syv[y] + sz[z] * cy[y];
                float *o = out + ((size_t)z * H + y) * W;
                for (int x = 0; x < W; x++)
                    o[x] += (float)(a * cx[x] - b * sx[x]);
            }
    }
    free(t);
    return SS_OK;
}

void sy_zscore(float *x, size_t n)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    double m = s / (double)n;
    for (size_t i = 0; i < n; i++)
        s2 += (x[i] - m) * (x[i] - m);
    double sd = sqrt(s2 / (double)n);
    if (sd <= 0)
        sd = 1;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((x[i] - m) / sd);
}

void sy_minmax01(float *x, size_t n)
{
    float lo = x[0], hi = x[0];
    for (size_t i = 1; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    float s = hi > lo ? 1.0f / (hi - lo) : 0.0f;
    for (size_t i = 0; i < n; i++)
        x[i] = (x[i] - lo) * s;
}

/* ---- writers ----------------------------------------------------------------- */
int sy_write_list(const char *path, char *const *ids, int n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return ss_seterr("cannot write list file %s", path);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s\n", ids[i]);
    if (fclose(f) != 0)
        return ss_seterr("cannot write list file %s", path);
    return SS_OK;
}

static int h5_put(hid_t f, const char *key, hid_t memtype, hid_t filetype, int rank,
                  const hsize_t *dims, const void *data)
{
    hsize_t chunk[8];
    for (int i = 0; i < rank; i++)
        chunk[i] = dims[i] > 32 ? 32 : dims[i];
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(pl, 0);
    H5Pset_chunk(pl, rank, chunk);
    H5Pset_deflate(pl, 1);
    hid_t d = H5Dcreate2(f, key, filetype, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    int rc = d >= 0 && H5Dwrite(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0 ? 0 : -1;
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(pl);
    H5Sclose(sp);
    return rc;
}

int sy_write_h5(const char *path, int rank, const int *dims, const float *image,
                const uint8_t *label, int label_float)
{
    hsize_t hd[8];
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        hd[i] = (hsize_t)dims[i];
        n *= (size_t)dims[i];
    }
    float *lf = NULL;
    if (label_float) {
        lf = malloc(n * sizeof *lf);
        if (!lf)
            return ss_seterr("out of memory writing %s", path);
        for (size_t i = 0; i < n; i++)
            lf[i] = label[i];
    }
    ds_h5_lock();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    int rc = -1;
    if (f >= 0) {
        rc = h5_put(f, "image", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, rank, hd, image);
        if (rc == 0)
            rc = label_float ? h5_put(f, "label", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, rank, hd, lf)
                             : h5_put(f, "label", H5T_NATIVE_UINT8, H5T_STD_U8LE, rank, hd, label);
        if (H5Fclose(f) < 0)
            rc = -1;
    }
    ds_h5_unlock();
    free(lf);
    if (rc != 0)
        return ss_seterr("cannot write HDF5 file %s", path);
    return SS_OK;
}

int sy_write_nifti(const char *path, int nx, int ny, int nz, const float *fdata,
                   const uint8_t *u8data)
{
    int64_t dims[8] = {3, nx, ny, nz, 1, 1, 1, 1};
    int dt = fdata ? DT_FLOAT32 : DT_UINT8;
    nifti_set_debug_level(0);
    nifti_image *nim = nifti_make_new_nim(dims, dt, 0);
    if (!nim)
        return ss_seterr("cannot create NIfTI image for %s", path);
    size_t n = (size_t)nx * ny * nz, bytes = n * (fdata ? sizeof(float) : 1);
    nim->data = malloc(bytes);
    if (!nim->data) {
        nifti_image_free(nim);
        return ss_seterr("out of memory writing %s", path);
    }
    memcpy(nim->data, fdata ? (const void *)fdata : (const void *)u8data, bytes);
    if (nifti_set_filenames(nim, path, 0, 1) != 0) {
        nifti_image_free(nim);
        return ss_seterr("cannot use %s as a NIfTI file name (expected .nii or .nii.gz)", path);
    }
    nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
    nifti_image_write(nim);
    nifti_image_free(nim);
    if (!ds_file_exists(path))
        return ss_seterr("cannot write NIfTI file %s", path);
    return SS_OK;
}

int sy_write_png_gray(const char *path, int h, int w, const uint8_t *px)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return ss_seterr("cannot write PNG file %s", path);
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    if (!p || !info || setjmp(png_jmpbuf(p))) {
        png_destroy_write_struct(&p, &info);
        fclose(f);
        return ss_seterr("cannot write PNG file %s", path);
    }
    png_init_io(p, f);
    png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    for (int y = 0; y < h; y++)
        png_write_row(p, (png_const_bytep)(px + (size_t)y * w));
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    if (fclose(f) != 0)
        return ss_seterr("cannot write PNG file %s", path);
    return SS_OK;
}

typedef struct jwerr {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
} jwerr;

static void jw_fail(j_common_ptr c) { longjmp(((jwerr *)c->err)->jb, 1); }

int sy_write_jpeg_rgb(const char *path, int h, int w, const uint8_t *rgb, int quality)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return ss_seterr("cannot write JPEG file %s", path);
    struct jpeg_compress_struct c;
    jwerr e;
    c.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = jw_fail;
    if (setjmp(e.jb)) {
        jpeg_destroy_compress(&c);
        fclose(f);
        return ss_seterr("cannot write JPEG file %s", path);
    }
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)c.next_scanline * w * 3);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    if (fclose(f) != 0)
        return ss_seterr("cannot write JPEG file %s", path);
    return SS_OK;
}

int sy_write_h5_xyz(const char *path, int D, int H, int W, const float *image,
                    const uint8_t *label, int label_float)
{
    size_t n = (size_t)D * H * W;
    float *ti = malloc(n * sizeof *ti);
    uint8_t *tl = malloc(n);
    if (!ti || !tl) {
        free(ti);
        free(tl);
        return ss_seterr("out of memory writing %s", path);
    }
    for (int z = 0; z < D; z++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                size_t s = ((size_t)z * H + y) * W + x, o = ((size_t)x * H + y) * D + z;
                ti[o] = image[s];
                tl[o] = label[s];
            }
    int dims[3] = {W, H, D};
    int rc = sy_write_h5(path, 3, dims, ti, tl, label_float);
    free(ti);
    free(tl);
    return rc;
}

/* Case ids of 20 upper-case letters and digits (like the LA challenge ids). */
void sy_make_id20(sy_rng *r, char id[21])
{
    static const char al[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (int i = 0; i < 20; i++)
        id[i] = al[sy_int(r, 0, 35)];
    id[20] = '\0';
}

int sy_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int sy_scaled(int base, double scale)
{
    int v = (int)lround(base * scale);
    return v < 4 ? 4 : v;
}

int sy_case3_alloc(sy_case3 *c, const char *name, int D, int H, int W, const sy_field *fields,
                   int nf)
{
    memset(c, 0, sizeof *c);
    c->D = D;
    c->H = H;
    c->W = W;
    c->n = (size_t)D * H * W;
    c->img = malloc(c->n * sizeof *c->img);
    c->lab = malloc(c->n);
    float *g = nf > 0 ? malloc((size_t)nf * c->n * sizeof *g) : NULL;
    if (!c->img || !c->lab || (nf > 0 && !g)) {
        free(g);
        sy_case3_free(c);
        return ss_seterr("%s: out of memory", name);
    }
    for (int i = 0; i < nf; i++) {
        c->grid[i] = g + (size_t)i * c->n;
        if (sy_field_grid(&fields[i], D, H, W, c->grid[i]) != 0) {
            sy_case3_free(c);
            return SS_ERR;
        }
    }
    return SS_OK;
}

void sy_case3_free(sy_case3 *c)
{
    free(c->grid[0]);
    free(c->img);
    free(c->lab);
    memset(c, 0, sizeof *c);
}

int sy_case3_finish(sy_case3 *c, const char *path, int label_float)
{
    free(c->grid[0]);
    memset(c->grid, 0, sizeof c->grid);
    sy_zscore(c->img, c->n);
    int rc = sy_write_h5_xyz(path, c->D, c->H, c->W, c->img, c->lab, label_float);
    sy_case3_free(c);
    return rc;
}

void sy_blobs_make(sy_blobs *b, sy_rng *r, const double lim[3], const double rlim[3], double rlo,
                   double rhi, double vlo, double vhi)
{
    b->n = sy_int(r, 3, 5);
    for (int i = 0; i < b->n; i++) {
        for (int a = 0; a < 3; a++) {
            b->c[i][a] = sy_range(r, 0.1, 0.9) * lim[a];
            b->r[i][a] = sy_range(r, rlo, rhi) * rlim[a];
        }
        b->v[i] = sy_range(r, vlo, vhi);
    }
}

int sy_blob_has(const sy_blobs *b, int j, double z, double y, double x)
{
    double b0 = (z - b->c[j][0]) / b->r[j][0], b1 = (y - b->c[j][1]) / b->r[j][1],
           b2 = (x - b->c[j][2]) / b->r[j][2];
    return b0 * b0 + b1 * b1 + b2 * b2 < 1;
}
