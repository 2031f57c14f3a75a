/* Qualitative overlay PNG of one slice (see plotdata.h). */
#include "reports/plotdata.h"

#include "kernels/error.h"

#include <hdf5.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int boundary(const uint8_t *l, int h, int w, int y, int x)
{
    uint8_t v = l[(size_t)y * w + x];
    if (!v)
        return 0;
    if (y == 0 || x == 0 || y == h - 1 || x == w - 1)
        return 1;
    return l[(size_t)(y - 1) * w + x] != v || l[(size_t)(y + 1) * w + x] != v ||
           l[(size_t)y * w + x - 1] != v || l[(size_t)y * w + x + 1] != v;
}

int ss_overlay_png(const float *image, const uint8_t *gt, const uint8_t *pred, int h, int w,
                   int scale, const char *path)
{
    if (h < 1 || w < 1 || scale < 1 || scale > 64)
        return ss_seterr("overlay: bad size %dx%d or scale %d (1..64)", h, w, scale);
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < (size_t)h * w; i++) {
        if (image[i] < lo)
            lo = image[i];
        if (image[i] > hi)
            hi = image[i];
    }
    float span = hi > lo ? hi - lo : 1.0f;
    int W = w * scale, H = h * scale;
    png_bytep rowbuf = malloc((size_t)W * 3);
    uint8_t *rgb = malloc((size_t)h * w * 3);
    if (!rowbuf || !rgb) {
        free(rowbuf);
        free(rgb);
        return ss_seterr("overlay: out of memory");
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            uint8_t g = (uint8_t)lrintf(255.0f * (image[i] - lo) / span);
            int bg = boundary(gt, h, w, y, x), bp = boundary(pred, h, w, y, x);
            uint8_t *o = rgb + 3 * i;
            if (bg || bp) {
                o[0] = bg ? 255 : 0;
                o[1] = bp ? 255 : 0;
                o[2] = 0;
            } else {
                o[0] = o[1] = o[2] = g;
            }
        }
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        free(rowbuf);
        free(rgb);
        return ss_seterr("overlay: path %s is too long", path);
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(rowbuf);
        free(rgb);
        return ss_seterr("overlay: cannot create %s", tmp);
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int ok = png && info;
    if (ok && setjmp(png_jmpbuf(png))) {
        ok = 0;
    } else if (ok) {
        png_init_io(png, f);
        png_set_IHDR(png, info, (png_uint_32)W, (png_uint_32)H, 8, PNG_COLOR_TYPE_RGB,
                     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        png_write_info(png, info);
        for (int Y = 0; Y < H; Y++) {
            const uint8_t *src = rgb + (size_t)(Y / scale) * w * 3;
            for (int X = 0; X < W; X++)
                memcpy(rowbuf + 3 * (size_t)X, src + 3 * (size_t)(X / scale), 3);
            png_write_row(png, rowbuf);
        }
        png_write_end(png, NULL);
    }
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    ok = fclose(f) == 0 && ok;
    free(rowbuf);
    free(rgb);
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return ss_seterr("overlay: cannot write PNG %s", path);
    }
    return SS_OK;
}

/* Reads a whole rank-3 (or rank-2 = one slice) dataset as TYPE into a new buffer. */
static void *read3(hid_t f, const char *file, const char *name, hid_t type, size_t esize,
                   hsize_t dims[3])
{
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0) {
        ss_seterr("overlay: %s has no dataset '%s'", file, name);
        return NULL;
    }
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) {
        ss_seterr("overlay: %s: cannot open '%s'", file, name);
        return NULL;
    }
    hid_t sp = H5Dget_space(d);
    int rank = H5Sget_simple_extent_ndims(sp);
    hsize_t dd[3] = {1, 1, 1};
    if (rank == 3)
        H5Sget_simple_extent_dims(sp, dd, NULL);
    else if (rank == 2)
        H5Sget_simple_extent_dims(sp, dd + 1, NULL);
    H5Sclose(sp);
    if (rank != 2 && rank != 3) {
        H5Dclose(d);
        ss_seterr("overlay: %s: '%s' has rank %d, expected 2 or 3", file, name, rank);
        return NULL;
    }
    size_t n = (size_t)(dd[0] * dd[1] * dd[2]);
    void *buf = malloc(n * esize);
    if (!buf || H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        free(buf);
        H5Dclose(d);
        ss_seterr("overlay: %s: cannot read '%s'", file, name);
        return NULL;
    }
    H5Dclose(d);
    memcpy(dims, dd, sizeof dd);
    return buf;
}

int ss_overlay_from_h5(const char *case_h5, const char *pred_h5, int k, ss_layout layout,
                       int scale, const char *png, int *slice_out)
{
    H5Eset_auto(H5E_DEFAULT, NULL, NULL);
    hid_t fc = H5Fopen(case_h5, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fc < 0)
        return ss_seterr("overlay: cannot open %s as HDF5", case_h5);
    hid_t fp = H5Fopen(pred_h5, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fp < 0) {
        H5Fclose(fc);
        return ss_seterr("overlay: cannot open %s as HDF5", pred_h5);
    }
    hsize_t di[3], dl[3], dp[3];
    float *img = read3(fc, case_h5, "image", H5T_NATIVE_FLOAT, sizeof(float), di);
    uint8_t *lab = img ? read3(fc, case_h5, "label", H5T_NATIVE_UINT8, 1, dl) : NULL;
    uint8_t *pr = lab ? read3(fp, pred_h5, "pred", H5T_NATIVE_UINT8, 1, dp) : NULL;
    H5Fclose(fc);
    H5Fclose(fp);
    int rc = SS_ERR;
    float *si = NULL;
    uint8_t *sg = NULL, *sp = NULL;
    if (!pr)
        goto out;
    if (memcmp(di, dl, sizeof di)) {
        ss_seterr("overlay: %s: 'image' and 'label' shapes differ", case_h5);
        goto out;
    }
    int D = (int)dp[0], H = (int)dp[1], W = (int)dp[2];
    int same = di[0] == dp[0] && di[1] == dp[1] && di[2] == dp[2];
    int xyz = di[0] == dp[2] && di[1] == dp[1] && di[2] == dp[0];
    if (layout == SS_LAYOUT_DHW && !same)
        xyz = 0;
    else if (layout == SS_LAYOUT_XYZ)
        same = 0;
    if (!same && !xyz) {
        ss_seterr("overlay: case %s is %llux%llux%llu but prediction %s is %dx%dx%d (D,H,W); "
                  "neither (D,H,W) nor stored (x,y,z)",
                  case_h5, (unsigned long long)di[0], (unsigned long long)di[1],
                  (unsigned long long)di[2], pred_h5, D, H, W);
        goto out;
    }
    if (k < 0) { /* the slice with the largest ground-truth foreground */
        long best = -1;
        for (int z = 0; z < D; z++) {
            long a = 0;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    a += lab[same ? ((size_t)z * H + y) * W + x : ((size_t)x * H + y) * D + z] > 0;
            if (a > best) {
                best = a;
                k = z;
            }
        }
    }
    if (k >= D) {
        ss_seterr("overlay: slice %d is outside 0..%d of %s", k, D - 1, pred_h5);
        goto out;
    }
    si = malloc((size_t)H * W * sizeof *si);
    sg = malloc((size_t)H * W);
    sp = malloc((size_t)H * W);
    if (!si || !sg || !sp) {
        ss_seterr("overlay: out of memory");
        goto out;
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            size_t o = (size_t)y * W + x;
            size_t src = same ? ((size_t)k * H + y) * W + x : ((size_t)x * H + y) * D + k;
            si[o] = img[src];
            sg[o] = lab[src];
            sp[o] = pr[((size_t)k * H + y) * W + x];
        }
    rc = ss_overlay_png(si, sg, sp, H, W, scale, png);
    if (rc == SS_OK && slice_out)
        *slice_out = k;
out:
    free(img);
    free(lab);
    free(pr);
    free(si);
    free(sg);
    free(sp);
    return rc;
}
