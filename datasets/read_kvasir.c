/* Kvasir-instrument cases: an RGB JPEG image (-> 3 channels in [0, 1]) and a
 * PNG mask (grey or colour; grey value > 127 -> class 1). */
#include "datasets/ds_impl.h"
#include "kernels/error.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <jpeglib.h> /* after stdio.h: uses FILE */
#include <stdlib.h>
#include <string.h>

typedef struct jerr {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jerr;

static void jpeg_fail(j_common_ptr c)
{
    jerr *e = (jerr *)c->err;
    (*c->err->format_message)(c, e->msg);
    longjmp(e->jb, 1);
}

/* Warnings (level -1: corrupt or truncated data, which libjpeg would fill
 * with grey) fail the read; trace messages are ignored. */
static void jpeg_warn(j_common_ptr c, int level)
{
    if (level < 0)
        jpeg_fail(c);
}

/* Decodes PATH into malloc'd RGB bytes. */
static int read_jpeg(const char *dataset, const char *path, uint8_t **rgb, int *h, int *w)
{
    *rgb = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ss_seterr("%s: cannot open image %s", dataset, path);
    struct jpeg_decompress_struct c;
    jerr e;
    uint8_t *volatile px = NULL;
    c.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = jpeg_fail;
    e.pub.emit_message = jpeg_warn;
    if (setjmp(e.jb)) {
        jpeg_destroy_decompress(&c);
        fclose(f);
        free(px);
        return ss_seterr("%s: %s is not a readable JPEG (%s; expected an RGB JPEG image)",
                         dataset, path, e.msg);
    }
    jpeg_create_decompress(&c);
    jpeg_stdio_src(&c, f);
    jpeg_read_header(&c, TRUE);
    c.out_color_space = JCS_RGB;
    jpeg_start_decompress(&c);
    int W = (int)c.output_width, H = (int)c.output_height;
    if (c.output_components != 3) {
        snprintf(e.msg, sizeof e.msg, "decoded to %d components", c.output_components);
        longjmp(e.jb, 1);
    }
    px = malloc((size_t)W * H * 3);
    if (!px) {
        snprintf(e.msg, sizeof e.msg, "out of memory");
        longjmp(e.jb, 1);
    }
    while (c.output_scanline < c.output_height) {
        JSAMPROW row = px + (size_t)c.output_scanline * W * 3;
        jpeg_read_scanlines(&c, &row, 1);
    }
    jpeg_finish_decompress(&c);
    jpeg_destroy_decompress(&c);
    fclose(f);
    *rgb = px;
    *h = H;
    *w = W;
    return SS_OK;
}

/* Decodes PATH into malloc'd 8-bit grey values. */
static int read_png_gray(const char *dataset, const char *path, uint8_t **gray, int *h, int *w)
{
    *gray = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ss_seterr("%s: cannot open mask %s", dataset, path);
    unsigned char sig[8];
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8)) {
        fclose(f);
        return ss_seterr("%s: %s is not a PNG file (expected a PNG mask)", dataset, path);
    }
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    uint8_t *volatile px = NULL;
    png_bytep *volatile rows = NULL;
    if (!p || !info || setjmp(png_jmpbuf(p))) {
        png_destroy_read_struct(&p, &info, NULL);
        fclose(f);
        free(px);
        free(rows);
        return ss_seterr("%s: %s is not a readable PNG (truncated or corrupt; expected a PNG "
                         "mask)",
                         dataset, path);
    }
    png_init_io(p, f);
    png_set_sig_bytes(p, 8);
    png_read_info(p, info);
    int W = (int)png_get_image_width(p, info), H = (int)png_get_image_height(p, info);
    int ct = png_get_color_type(p, info);
    png_set_expand(p);
    png_set_strip_16(p);
    png_set_strip_alpha(p);
    if (ct == PNG_COLOR_TYPE_RGB || ct == PNG_COLOR_TYPE_RGB_ALPHA || ct == PNG_COLOR_TYPE_PALETTE)
        png_set_rgb_to_gray_fixed(p, 1, -1, -1);
    png_read_update_info(p, info);
    if (png_get_channels(p, info) != 1)
        png_error(p, "unexpected channel count");
    px = malloc((size_t)W * H);
    rows = malloc((size_t)H * sizeof(png_bytep));
    if (!px || !rows)
        png_error(p, "out of memory");
    for (int y = 0; y < H; y++)
        rows[y] = px + (size_t)y * W;
    png_read_image(p, rows);
    png_read_end(p, NULL);
    png_destroy_read_struct(&p, &info, NULL);
    fclose(f);
    free(rows);
    *gray = px;
    *h = H;
    *w = W;
    return SS_OK;
}

int ds_read_kvasir(const char *dataset, const char *image_path, const char *mask_path,
                   ss_volume *out)
{
    memset(out, 0, sizeof *out);
    uint8_t *rgb, *m;
    int h, w, mh, mw;
    if (read_jpeg(dataset, image_path, &rgb, &h, &w) != 0)
        return SS_ERR;
    if (read_png_gray(dataset, mask_path, &m, &mh, &mw) != 0) {
        free(rgb);
        return SS_ERR;
    }
    if (mh != h || mw != w) {
        free(rgb);
        free(m);
        return ss_seterr("%s: mask %s is %dx%d but image %s is %dx%d, expected equal sizes",
                         dataset, mask_path, mh, mw, image_path, h, w);
    }
    size_t n = (size_t)h * w;
    float *img = malloc(3 * n * sizeof *img);
    if (!img) {
        free(rgb);
        free(m);
        return ss_seterr("%s: %s: out of memory", dataset, image_path);
    }
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            img[c * n + i] = rgb[3 * i + c] * (1.0f / 255.0f);
    for (size_t i = 0; i < n; i++)
        m[i] = m[i] > 127;
    free(rgb);
    out->c = 3;
    out->d = 1;
    out->h = h;
    out->w = w;
    out->image = img;
    out->label = m;
    out->spacing[0] = out->spacing[1] = out->spacing[2] = 1.0;
    return SS_OK;
}
