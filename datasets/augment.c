/* Training augmentation (protocol-3d.md §3.3, protocol-2d.md §1.6).
 *
 * Axes. An ss_volume is (C, D, H, W). The reference code works on NumPy
 * arrays: LA/Pancreas volumes stored (x, y, z) = numpy axes (0, 1, 2), which
 * the readers transpose to our (D, H, W) = (z, y, x); ACDC slices stored
 * (H, W) = numpy axes (0, 1), read as is (D = 1). So:
 *   LA    np.rot90(v, k, axes=(0,1))  = rot90 of our axes (W, H) = (2, 1), k as drawn
 *         np.flip(v, a), a in {0,1}   = flip of our axis 2 - a (W for a=0, H for a=1)
 *   ACDC  np.rot90(s, k) (axes (0,1)) = rot90 of our axes (H, W) = (1, 2)
 *         np.flip(s, a)               = flip of our axis 1 + a
 * and crops/pads act on our (D, H, W) with the patch given as (D, H, W).
 *
 * Kinds:
 *  SS_AUG_LA: RandomRotFlip (k ~ U{0..3}, then always one flip along a ~ U{0,1})
 *    then RandomCrop(patch).
 *  SS_AUG_CROP: RandomCrop(patch) only.
 *  RandomCrop: if ANY dim <= its patch dim, every axis is zero-padded on both
 *    sides by max(floor((patch - dim)/2) + 3, 0) (so an axis slightly larger than
 *    its patch can get a few voxels too); then the offset along each axis is
 *    U{0 .. dim' - patch - 1} (NumPy randint(0, dim' - patch): the last valid
 *    offset is never drawn). dim' - patch >= 1 always holds after this rule (a
 *    padded axis gains at least 6 voxels, an unpadded one is larger than its
 *    patch), so the degenerate randint(0, 0) of an exactly patch-sized volume
 *    cannot occur; should it, the offset is 0.
 *  SS_AUG_ACDC_LEGACY: with P 0.5 rot_flip (as above, in the slice plane); else
 *    with P 0.5 rotate by an integer angle U{-20 .. 19} degrees (SciPy rotate,
 *    order 0, reshape False, zero fill); else nothing. Then nearest zoom to the
 *    patch (H, W) exactly as scipy.ndimage.zoom(order=0) (harness/zoom.h), for
 *    image and label. Needs D = 1 and patch D = 1.
 *  SS_AUG_ACDC_2025: P 0.5 rot_flip, else rotate; then the zoom.
 *  SS_AUG_NONE: 2-D (D = 1 and patch D = 1): the same nearest zoom to the
 *    patch (H, W); 3-D: a centre crop (offset floor((dim - patch)/2)) or a
 *    centre zero-pad (floor((patch - dim)/2) before, the rest after) per axis.
 *
 * Randomness: 32-bit draws ss_rng_bits(seed, stream', counter, e) with
 * stream' = low 32 bits of stream XOR its high 32 bits and fixed element
 * slots e: 0 = first branch choice, 1 = second branch choice, 2 = k,
 * 3 = flip axis, 4 = angle, 5..7 = crop offsets along D, H, W. Integers in
 * [0, n) are floor(bits * n / 2^32); a probability-0.5 branch is taken when
 * the 24-bit uniform (ss_rng_uniform) is > 0.5, as `random.random() > 0.5`.
 *
 * Every transform is resolved into one source index per output voxel (rot90 /
 * flip / crop as an axis view, rotate and zoom as index maps) and applied to
 * all channels and the label at once, so no intermediate volume is copied. */
#include "datasets/dataset.h"

#include "harness/zoom.h"
#include "kernels/error.h"
#include "kernels/rng.h"

#include <stdlib.h>
#include <string.h>

enum { E_CHOICE1 = 0, E_CHOICE2 = 1, E_K = 2, E_AXIS = 3, E_ANGLE = 4, E_CROP = 5 };

typedef struct rngctx {
    uint64_t seed, counter;
    uint32_t stream;
} rngctx;

static uint32_t draw_int(const rngctx *r, int e, uint32_t n)
{
    uint32_t b = ss_rng_bits(r->seed, r->stream, r->counter, (uint64_t)e);
    return (uint32_t)(((uint64_t)b * n) >> 32);
}

static int draw_half(const rngctx *r, int e)
{
    return ss_rng_uniform(r->seed, r->stream, r->counter, (uint64_t)e) > 0.5f;
}

/* An axis view of a (D,H,W) grid: output axis a runs along input axis
 * from[a], reversed when rev[a]; dims[a] = the view's extent. */
typedef struct view {
    int from[3], rev[3], dims[3];
    int in_dims[3];
} view;

static void view_identity(view *v, const int in_dims[3])
{
    for (int a = 0; a < 3; a++) {
        v->from[a] = a;
        v->rev[a] = 0;
        v->dims[a] = v->in_dims[a] = in_dims[a];
    }
}

/* np.rot90(view, k, axes=(a0, a1)) composed onto V. */
static void view_rot90(view *v, int k, int a0, int a1)
{
    k = ((k % 4) + 4) % 4;
    view o = *v;
    if (k == 1) { /* out[a0]=i, out[a1]=j reads view[a0 = j, a1 = n_a1-1-i] */
        v->from[a0] = o.from[a1];
        v->rev[a0] = !o.rev[a1];
        v->dims[a0] = o.dims[a1];
        v->from[a1] = o.from[a0];
        v->rev[a1] = o.rev[a0];
        v->dims[a1] = o.dims[a0];
    } else if (k == 2) {
        v->rev[a0] = !o.rev[a0];
        v->rev[a1] = !o.rev[a1];
    } else if (k == 3) { /* reads view[a0 = n_a0-1-j, a1 = i] */
        v->from[a0] = o.from[a1];
        v->rev[a0] = o.rev[a1];
        v->dims[a0] = o.dims[a1];
        v->from[a1] = o.from[a0];
        v->rev[a1] = !o.rev[a0];
        v->dims[a1] = o.dims[a0];
    }
}

static void view_flip(view *v, int axis)
{
    v->rev[axis] = !v->rev[axis];
}

/* Input linear index of view index o[3] (all in range). */
static int64_t view_at(const view *v, const int o[3])
{
    int idx[3];
    for (int a = 0; a < 3; a++) {
        int p = v->from[a];
        idx[p] = v->rev[a] ? v->in_dims[p] - 1 - o[a] : o[a];
    }
    return ((int64_t)idx[0] * v->in_dims[1] + idx[1]) * v->in_dims[2] + idx[2];
}

/* Python floor division for the padding rule. */
static int floordiv2(int x)
{
    return x >= 0 ? x / 2 : -((-x + 1) / 2);
}

/* Source map of a crop of PATCH from view V starting at START (may be
 * negative / run past the end: zero padding). */
static void map_crop(const view *v, const int start[3], const int patch[3], int64_t *map)
{
    size_t q = 0;
    int o[3];
    for (int i = 0; i < patch[0]; i++)
        for (int j = 0; j < patch[1]; j++)
            for (int k = 0; k < patch[2]; k++) {
                o[0] = start[0] + i;
                o[1] = start[1] + j;
                o[2] = start[2] + k;
                int in = o[0] >= 0 && o[0] < v->dims[0] && o[1] >= 0 && o[1] < v->dims[1] &&
                         o[2] >= 0 && o[2] < v->dims[2];
                map[q++] = in ? view_at(v, o) : -1;
            }
}

/* RandomCrop with the reference padding rule on view V. */
static void random_crop(const view *v, const int patch[3], const rngctx *r, int64_t *map)
{
    int trigger = 0, pad[3] = {0, 0, 0}, start[3];
    for (int a = 0; a < 3; a++)
        trigger |= v->dims[a] <= patch[a];
    for (int a = 0; a < 3; a++) {
        if (trigger) {
            pad[a] = floordiv2(patch[a] - v->dims[a]) + 3;
            if (pad[a] < 0)
                pad[a] = 0;
        }
        int range = v->dims[a] + 2 * pad[a] - patch[a];
        int off = range > 0 ? (int)draw_int(r, E_CROP + a, (uint32_t)range) : 0;
        start[a] = off - pad[a];
    }
    map_crop(v, start, patch, map);
}

/* Nearest zoom of a 2-D source (H x W, given as a per-pixel source map SRC of
 * linear input indices, -1 = fill) to patch H x W. */
static int map_zoom2d(const int64_t *src, int h, int w, const int patch[3], int64_t *map)
{
    int *zh = malloc(sizeof(int) * ((size_t)patch[1] + patch[2]));
    if (!zh)
        return ss_seterr("augment: out of memory for zoom maps");
    int *zw = zh + patch[1];
    ss_zoom_axis_index(h, patch[1], zh);
    ss_zoom_axis_index(w, patch[2], zw);
    size_t q = 0;
    for (int i = 0; i < patch[1]; i++)
        for (int j = 0; j < patch[2]; j++)
            map[q++] = (zh[i] < 0 || zw[j] < 0) ? -1 : src[(size_t)zh[i] * w + zw[j]];
    free(zh);
    return SS_OK;
}

/* The 2-D (ACDC) pipeline: optional rot_flip / rotate, then zoom. MODE 0:
 * none, 1: rot_flip, 2: rotate. */
static int map_slice(const ss_volume *in, const int patch[3], int mode, const rngctx *r,
                     int64_t *map)
{
    int in_dims[3] = {1, in->h, in->w};
    view v;
    view_identity(&v, in_dims);
    if (mode == 1) {
        view_rot90(&v, (int)draw_int(r, E_K, 4), 1, 2);
        view_flip(&v, 1 + (int)draw_int(r, E_AXIS, 2));
    }
    int h = v.dims[1], w = v.dims[2];
    int64_t *src = malloc(sizeof(int64_t) * (size_t)h * w);
    if (!src)
        return ss_seterr("augment: out of memory for a %dx%d slice map", h, w);
    if (mode == 2) {
        int angle = -20 + (int)draw_int(r, E_ANGLE, 40);
        int *rs = malloc(sizeof(int) * (size_t)h * w);
        if (!rs || ss_rotate_index(h, w, angle, rs)) {
            free(rs);
            free(src);
            return rs ? SS_ERR : ss_seterr("augment: out of memory for a rotation map");
        }
        for (size_t q = 0; q < (size_t)h * w; q++)
            src[q] = rs[q];
        free(rs);
    } else {
        int o[3] = {0, 0, 0};
        size_t q = 0;
        for (o[1] = 0; o[1] < h; o[1]++)
            for (o[2] = 0; o[2] < w; o[2]++)
                src[q++] = view_at(&v, o);
    }
    int rc = map_zoom2d(src, h, w, patch, map);
    free(src);
    return rc;
}

int ss_augment(ss_aug_kind kind, const int patch[3], const ss_volume *in, uint64_t seed,
               uint64_t stream, uint64_t counter, float *image, float *label)
{
    if (!in || !in->image || in->c < 1 || in->d < 1 || in->h < 1 || in->w < 1)
        return ss_seterr("augment: case '%s' has no image data", in ? in->id : "?");
    for (int a = 0; a < 3; a++)
        if (patch[a] < 1)
            return ss_seterr("augment: bad patch (%d,%d,%d)", patch[0], patch[1], patch[2]);
    rngctx r = {seed, counter, (uint32_t)(stream ^ (stream >> 32))};
    int two_d = in->d == 1 && patch[0] == 1;
    if ((kind == SS_AUG_ACDC_LEGACY || kind == SS_AUG_ACDC_2025) && !two_d)
        return ss_seterr("augment: ACDC augmentation needs a 2-D slice and a 2-D patch; case "
                         "'%s' is %dx%dx%d, patch (%d,%d,%d)",
                         in->id, in->d, in->h, in->w, patch[0], patch[1], patch[2]);
    size_t np = (size_t)patch[0] * patch[1] * patch[2];
    int64_t *map = malloc(sizeof(int64_t) * np);
    if (!map)
        return ss_seterr("augment: out of memory for a (%d,%d,%d) patch map", patch[0],
                         patch[1], patch[2]);
    int in_dims[3] = {in->d, in->h, in->w};
    view v;
    view_identity(&v, in_dims);
    int rc = SS_OK;
    switch (kind) {
    case SS_AUG_LA:
        view_rot90(&v, (int)draw_int(&r, E_K, 4), 2, 1);
        view_flip(&v, 2 - (int)draw_int(&r, E_AXIS, 2));
        random_crop(&v, patch, &r, map);
        break;
    case SS_AUG_CROP:
        random_crop(&v, patch, &r, map);
        break;
    case SS_AUG_ACDC_LEGACY: {
        int mode = draw_half(&r, E_CHOICE1) ? 1 : draw_half(&r, E_CHOICE2) ? 2 : 0;
        rc = map_slice(in, patch, mode, &r, map);
        break;
    }
    case SS_AUG_ACDC_2025:
        rc = map_slice(in, patch, draw_half(&r, E_CHOICE1) ? 1 : 2, &r, map);
        break;
    case SS_AUG_NONE:
        if (two_d) {
            rc = map_slice(in, patch, 0, &r, map);
        } else {
            int start[3];
            for (int a = 0; a < 3; a++)
                start[a] = in_dims[a] >= patch[a] ? (in_dims[a] - patch[a]) / 2
                                                  : -((patch[a] - in_dims[a]) / 2);
            map_crop(&v, start, patch, map);
        }
        break;
    default:
        rc = ss_seterr("augment: unknown augmentation kind %d", (int)kind);
    }
    if (rc == SS_OK) {
        size_t nin = (size_t)in->d * in->h * in->w;
        for (int c = 0; c < in->c; c++) {
            const float *ic = in->image + (size_t)c * nin;
            float *oc = image + (size_t)c * np;
            for (size_t q = 0; q < np; q++)
                oc[q] = map[q] < 0 ? 0.0f : ic[map[q]];
        }
        if (label)
            for (size_t q = 0; q < np; q++)
                label[q] = (in->label && map[q] >= 0) ? (float)in->label[map[q]] : 0.0f;
    }
    free(map);
    return rc;
}
