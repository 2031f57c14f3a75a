/* Nearest-neighbour zoom / rotate / rot90 / flip with SciPy's and NumPy's exact
 * index arithmetic (see zoom.h). The floating-point steps below are written in
 * the order SciPy evaluates them; this file relies on the build's ISO C mode
 * (-std=c11: no contraction of a*b + c into fused multiply-adds) except where
 * fma() is called explicitly. */
#include "harness/zoom.h"

#include "kernels/error.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* scipy.special.sindg / cosdg at integer degrees 0..90 (bit-exact; SciPy's
 * sindg differs from sin(a*pi/180) in the last bit at some angles, e.g. 3, 6,
 * 12, 19 degrees). tests/golden/make_zoom_fixtures.py checks that these
 * values and the symmetries sindg(-a) = -sindg(a), cosdg(-a) = cosdg(a)
 * reproduce SciPy on [-90, 90]. */
static const double k_sindg[91] = {
    0.0, 0x1.1df0b2b89dd1ep-6, 0x1.1de58c9f7dc27p-5,
    0x1.acbc748efc90ep-5, 0x1.1db8f6d6a5128p-4, 0x1.64fd6b8c28102p-4,
    0x1.ac2609b3c576cp-4, 0x1.f32d44c4f62d3p-4, 0x1.1d06c968d9e19p-3,
    0x1.4060b67a85375p-3, 0x1.63a1a7e0b7389p-3, 0x1.86c6ddd76624fp-3,
    0x1.a9cd9ac4258f6p-3, 0x1.ccb3236cdc675p-3, 0x1.ef74bf2e4b91dp-3,
    0x1.0907dc1930690p-2, 0x1.1a40add328e29p-2, 0x1.2b637cf83d5c8p-2,
    0x1.3c6ef372fe94fp-2, 0x1.4d61bd000cddcp-2, 0x1.5e3a8748a0bf5p-2,
    0x1.6ef801fced33cp-2, 0x1.7f98deee59681p-2, 0x1.901bd2298ffabp-2,
    0x1.a07f921061ad1p-2, 0x1.b0c2d77379853p-2, 0x1.c0e45dabe05c8p-2,
    0x1.d0e2e2b44de00p-2, 0x1.e0bd274245079p-2, 0x1.f071eedefa0edp-2,
    0x1.fffffffffffffp-2, 0x1.07b3120fddf13p-1, 0x1.0f5193eacdd2ap-1,
    0x1.16daed770771dp-1, 0x1.1e4e88411fd13p-1, 0x1.25abcf87c4978p-1,
    0x1.2cf2304755a5ep-1, 0x1.342119455beb6p-1, 0x1.3b37fb1bdc939p-1,
    0x1.4236484487abdp-1, 0x1.491b7523c161cp-1, 0x1.4fe6f81384fd4p-1,
    0x1.5698496e20bd8p-1, 0x1.5d2ee398c9c2bp-1, 0x1.63aa430e07310p-1,
    0x1.6a09e667f3bcdp-1, 0x1.704d4e6a54d39p-1, 0x1.7673fe0c86982p-1,
    0x1.7c7d7a833bec2p-1, 0x1.82694b4a11c37p-1, 0x1.8836fa2cf503ap-1,
    0x1.8de613515a328p-1, 0x1.9376253f463d1p-1, 0x1.98e6c0ea27a14p-1,
    0x1.9e3779b97f4a8p-1, 0x1.a367e59158747p-1, 0x1.a8779cda8eea4p-1,
    0x1.ad663a8ae2fdcp-1, 0x1.b2335c2cda945p-1, 0x1.b6dea1e76eadep-1,
    0x1.bb67ae8584cabp-1, 0x1.bfce277d339c6p-1, 0x1.c411b4f6d2708p-1,
    0x1.c83201d3d2c6dp-1, 0x1.cc2ebbb5638cap-1, 0x1.d0079302dd767p-1,
    0x1.d3bc3aeff7f95p-1, 0x1.d74c6982c666fp-1, 0x1.dab7d7997cb58p-1,
    0x1.ddfe40effb805p-1, 0x1.e11f642522d1cp-1, 0x1.e41b02bfeb4cbp-1,
    0x1.e6f0e134454ffp-1, 0x1.e9a0c6e7bdb1fp-1, 0x1.ec2a7e35e7b80p-1,
    0x1.ee8dd4748bf15p-1, 0x1.f0ca99f79ba25p-1, 0x1.f2e0a214e870fp-1,
    0x1.f4cfc327a0080p-1, 0x1.f697d6938b6c2p-1, 0x1.f838b8c811c17p-1,
    0x1.f9b24942fe45cp-1, 0x1.fb046a930947ap-1, 0x1.fc2f025a23e8bp-1,
    0x1.fd31f94f867c6p-1, 0x1.fe0d3b41815a2p-1, 0x1.fec0b7170fff6p-1,
    0x1.ff4c5ed12e61dp-1, 0x1.ffb0278bf0567p-1, 0x1.ffec097f5af8ap-1,
    0x1.0000000000000p+0,
};
static const double k_cosdg[91] = {
    0x1.0000000000000p+0, 0x1.ffec097f5af8ap-1, 0x1.ffb0278bf0567p-1,
    0x1.ff4c5ed12e61dp-1, 0x1.fec0b7170fff6p-1, 0x1.fe0d3b41815a2p-1,
    0x1.fd31f94f867c6p-1, 0x1.fc2f025a23e8bp-1, 0x1.fb046a930947ap-1,
    0x1.f9b24942fe45cp-1, 0x1.f838b8c811c17p-1, 0x1.f697d6938b6c2p-1,
    0x1.f4cfc327a0080p-1, 0x1.f2e0a214e870fp-1, 0x1.f0ca99f79ba25p-1,
    0x1.ee8dd4748bf15p-1, 0x1.ec2a7e35e7b80p-1, 0x1.e9a0c6e7bdb1fp-1,
    0x1.e6f0e134454ffp-1, 0x1.e41b02bfeb4cbp-1, 0x1.e11f642522d1cp-1,
    0x1.ddfe40effb805p-1, 0x1.dab7d7997cb58p-1, 0x1.d74c6982c666fp-1,
    0x1.d3bc3aeff7f95p-1, 0x1.d0079302dd767p-1, 0x1.cc2ebbb5638cap-1,
    0x1.c83201d3d2c6dp-1, 0x1.c411b4f6d2708p-1, 0x1.bfce277d339c6p-1,
    0x1.bb67ae8584cabp-1, 0x1.b6dea1e76eadep-1, 0x1.b2335c2cda945p-1,
    0x1.ad663a8ae2fdcp-1, 0x1.a8779cda8eea4p-1, 0x1.a367e59158747p-1,
    0x1.9e3779b97f4a8p-1, 0x1.98e6c0ea27a14p-1, 0x1.9376253f463d1p-1,
    0x1.8de613515a328p-1, 0x1.8836fa2cf503ap-1, 0x1.82694b4a11c37p-1,
    0x1.7c7d7a833bec2p-1, 0x1.7673fe0c86982p-1, 0x1.704d4e6a54d39p-1,
    0x1.6a09e667f3bccp-1, 0x1.63aa430e07310p-1, 0x1.5d2ee398c9c2bp-1,
    0x1.5698496e20bd8p-1, 0x1.4fe6f81384fd4p-1, 0x1.491b7523c161cp-1,
    0x1.4236484487abdp-1, 0x1.3b37fb1bdc939p-1, 0x1.342119455beb6p-1,
    0x1.2cf2304755a5ep-1, 0x1.25abcf87c4978p-1, 0x1.1e4e88411fd13p-1,
    0x1.16daed770771dp-1, 0x1.0f5193eacdd2ap-1, 0x1.07b3120fddf13p-1,
    0x1.fffffffffffffp-2, 0x1.f071eedefa0edp-2, 0x1.e0bd274245079p-2,
    0x1.d0e2e2b44de00p-2, 0x1.c0e45dabe05c8p-2, 0x1.b0c2d77379853p-2,
    0x1.a07f921061ad1p-2, 0x1.901bd2298ffabp-2, 0x1.7f98deee59681p-2,
    0x1.6ef801fced33cp-2, 0x1.5e3a8748a0bf5p-2, 0x1.4d61bd000cddcp-2,
    0x1.3c6ef372fe94fp-2, 0x1.2b637cf83d5c8p-2, 0x1.1a40add328e29p-2,
    0x1.0907dc1930690p-2, 0x1.ef74bf2e4b91dp-3, 0x1.ccb3236cdc675p-3,
    0x1.a9cd9ac4258f6p-3, 0x1.86c6ddd76624fp-3, 0x1.63a1a7e0b7389p-3,
    0x1.4060b67a85375p-3, 0x1.1d06c968d9e19p-3, 0x1.f32d44c4f62d3p-4,
    0x1.ac2609b3c576cp-4, 0x1.64fd6b8c28102p-4, 0x1.1db8f6d6a5128p-4,
    0x1.acbc748efc90ep-5, 0x1.1de58c9f7dc27p-5, 0x1.1df0b2b89dd1ep-6,
    -0.0,
};

static int check_dims(const int d[3], const char *what)
{
    for (int i = 0; i < 3; i++)
        if (d[i] < 1)
            return ss_seterr("zoom: %s shape (%d,%d,%d) has an empty axis", what, d[0], d[1],
                             d[2]);
    return SS_OK;
}

void ss_zoom_axis_index(int n_in, int n_out, int *src)
{
    /* zoom.py: factor = (in-1)/(out-1), 1 when out-1 == 0 (numpy divide with
     * where=); NI_ZoomShift: c = o * factor, 'constant' mode maps c outside
     * [0, in-1] to cval, else index floor(c + 0.5). */
    double z = n_out > 1 ? (double)(n_in - 1) / (double)(n_out - 1) : 1.0;
    for (int o = 0; o < n_out; o++) {
        double c = (double)o * z;
        if (c < 0.0 || c > (double)(n_in - 1))
            src[o] = -1;
        else
            src[o] = (int)floor(c + 0.5);
    }
}

/* Index maps for the three axes in one allocation. */
static int *zoom_maps(const int in_dims[3], const int out_dims[3], int *m[3])
{
    if (check_dims(in_dims, "input") || check_dims(out_dims, "output"))
        return NULL;
    int *buf = malloc(sizeof(int) * ((size_t)out_dims[0] + out_dims[1] + out_dims[2]));
    if (!buf) {
        ss_seterr("zoom: out of memory for index maps");
        return NULL;
    }
    m[0] = buf;
    m[1] = m[0] + out_dims[0];
    m[2] = m[1] + out_dims[1];
    for (int a = 0; a < 3; a++)
        ss_zoom_axis_index(in_dims[a], out_dims[a], m[a]);
    return buf;
}

#define ZOOM_BODY(T)                                                                           \
    int *m[3];                                                                                 \
    int *buf = zoom_maps(in_dims, out_dims, m);                                                \
    if (!buf)                                                                                  \
        return SS_ERR;                                                                         \
    size_t n1 = (size_t)in_dims[1], n2 = (size_t)in_dims[2];                                   \
    T *o = out;                                                                                \
    for (int i = 0; i < out_dims[0]; i++)                                                      \
        for (int j = 0; j < out_dims[1]; j++) {                                                \
            int si = m[0][i], sj = m[1][j];                                                    \
            if (si < 0 || sj < 0) {                                                            \
                for (int k = 0; k < out_dims[2]; k++)                                          \
                    *o++ = cval;                                                               \
                continue;                                                                      \
            }                                                                                  \
            const T *row = in + ((size_t)si * n1 + (size_t)sj) * n2;                          \
            for (int k = 0; k < out_dims[2]; k++) {                                            \
                int sk = m[2][k];                                                              \
                *o++ = sk < 0 ? cval : row[sk];                                                \
            }                                                                                  \
        }                                                                                      \
    free(buf);                                                                                 \
    return SS_OK;

int ss_zoom_nearest_f32(const float *in, const int in_dims[3], float *out, const int out_dims[3],
                        float cval)
{
    ZOOM_BODY(float)
}

int ss_zoom_nearest_u8(const uint8_t *in, const int in_dims[3], uint8_t *out,
                       const int out_dims[3], uint8_t cval)
{
    ZOOM_BODY(uint8_t)
}

int ss_rotate_index(int h, int w, int angle_deg, int *src)
{
    if (h < 1 || w < 1)
        return ss_seterr("rotate: bad plane size %dx%d", h, w);
    if (angle_deg < -90 || angle_deg > 90)
        return ss_seterr("rotate: angle %d degrees outside [-90, 90]", angle_deg);
    int a = abs(angle_deg);
    double s = angle_deg < 0 ? -k_sindg[a] : k_sindg[a];
    double c = k_cosdg[a];
    /* rotate(): matrix [[c, s], [-s, c]]; out_center = matrix @ ((shape-1)/2)
     * evaluated by NumPy's matmul (BLAS dgemv) as fma(m00, v0, m01*v1);
     * offset = in_center - out_center (reshape=False: same centre). */
    double v0 = (double)(h - 1) / 2.0, v1 = (double)(w - 1) / 2.0;
    double off0 = v0 - fma(c, v0, s * v1);
    double off1 = v1 - fma(-s, v0, c * v1);
    double hi0 = (double)(h - 1), hi1 = (double)(w - 1);
    /* NI_GeometricTransform (SciPy 1.17): coordinate = offset, then += o_l *
     * m_hl in axis order (older SciPy releases started from 0 and added the
     * offset last, which rounds differently at a few exact .5 ties);
     * 'constant' mode: outside [0, n-1] -> cval, else floor(c + 0.5). */
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            double y = off0, x = off1;
            y += (double)i * c;
            y += (double)j * s;
            x += (double)i * -s;
            x += (double)j * c;
            int r = -1;
            if (!(y < 0.0 || y > hi0 || x < 0.0 || x > hi1))
                r = (int)floor(y + 0.5) * w + (int)floor(x + 0.5);
            src[(size_t)i * w + j] = r;
        }
    return SS_OK;
}

#define ROTATE_BODY(T)                                                                         \
    if (n < 0)                                                                                 \
        return ss_seterr("rotate: bad plane count %d", n);                                     \
    if (h < 1 || w < 1)                                                                        \
        return ss_seterr("rotate: bad plane size %dx%d", h, w);                                \
    size_t hw = (size_t)h * w;                                                                 \
    int *src = malloc(sizeof(int) * hw);                                                       \
    if (!src)                                                                                  \
        return ss_seterr("rotate: out of memory for a %dx%d index map", h, w);                 \
    if (ss_rotate_index(h, w, angle_deg, src)) {                                               \
        free(src);                                                                             \
        return SS_ERR;                                                                         \
    }                                                                                          \
    for (int p = 0; p < n; p++) {                                                              \
        const T *ip = in + (size_t)p * hw;                                                     \
        T *op = out + (size_t)p * hw;                                                          \
        for (size_t q = 0; q < hw; q++)                                                        \
            op[q] = src[q] < 0 ? cval : ip[src[q]];                                            \
    }                                                                                          \
    free(src);                                                                                 \
    return SS_OK;

int ss_rotate_nearest_f32(const float *in, int n, int h, int w, int angle_deg, float cval,
                          float *out)
{
    ROTATE_BODY(float)
}

int ss_rotate_nearest_u8(const uint8_t *in, int n, int h, int w, int angle_deg, uint8_t cval,
                         uint8_t *out)
{
    ROTATE_BODY(uint8_t)
}

/* out[o0][o1][o2] = in[...] where output axis a runs along input axis
 * from[a], reversed when rev[a]. */
static int permute_copy(const void *in, const int dims[3], int elem, const int from[3],
                        const int rev[3], void *out)
{
    if (elem != 1 && elem != 2 && elem != 4 && elem != 8)
        return ss_seterr("rot90/flip: element size %d not supported (1, 2, 4 or 8)", elem);
    ptrdiff_t istr[3] = {(ptrdiff_t)dims[1] * dims[2], dims[2], 1};
    int od[3];
    ptrdiff_t ostep[3], base = 0;
    for (int a = 0; a < 3; a++) {
        int p = from[a];
        od[a] = dims[p];
        ostep[a] = rev[a] ? -istr[p] : istr[p];
        if (rev[a])
            base += (ptrdiff_t)(dims[p] - 1) * istr[p];
    }
    const char *ib = in;
    char *ob = out;
    size_t q = 0;
    for (int i = 0; i < od[0]; i++)
        for (int j = 0; j < od[1]; j++) {
            ptrdiff_t s = base + i * ostep[0] + j * ostep[1];
            switch (elem) {
            case 1:
                for (int k = 0; k < od[2]; k++, s += ostep[2])
                    ((uint8_t *)ob)[q++] = ((const uint8_t *)ib)[s];
                break;
            case 2:
                for (int k = 0; k < od[2]; k++, s += ostep[2])
                    ((uint16_t *)ob)[q++] = ((const uint16_t *)ib)[s];
                break;
            case 4:
                for (int k = 0; k < od[2]; k++, s += ostep[2])
                    ((uint32_t *)ob)[q++] = ((const uint32_t *)ib)[s];
                break;
            default:
                for (int k = 0; k < od[2]; k++, s += ostep[2])
                    ((uint64_t *)ob)[q++] = ((const uint64_t *)ib)[s];
                break;
            }
        }
    return SS_OK;
}

int ss_rot90(const void *in, const int dims[3], int elem, int k, int a0, int a1, void *out,
             int out_dims[3])
{
    if (check_dims(dims, "rot90 input"))
        return SS_ERR;
    if (a0 < 0 || a0 > 2 || a1 < 0 || a1 > 2 || a0 == a1)
        return ss_seterr("rot90: axes (%d,%d) must be two different axes in 0..2", a0, a1);
    k = ((k % 4) + 4) % 4;
    int from[3] = {0, 1, 2}, rev[3] = {0, 0, 0};
    /* np.rot90: k=1 transpose(flip(m, a1)); k=2 flip(flip(m, a0), a1);
     * k=3 flip(transpose(m), a1). */
    if (k == 1) {
        from[a0] = a1;
        rev[a0] = 1;
        from[a1] = a0;
    } else if (k == 2) {
        rev[a0] = rev[a1] = 1;
    } else if (k == 3) {
        from[a0] = a1;
        from[a1] = a0;
        rev[a1] = 1;
    }
    for (int a = 0; a < 3; a++)
        out_dims[a] = dims[from[a]];
    return permute_copy(in, dims, elem, from, rev, out);
}

int ss_flip(const void *in, const int dims[3], int elem, int axis, void *out)
{
    if (check_dims(dims, "flip input"))
        return SS_ERR;
    if (axis < 0 || axis > 2)
        return ss_seterr("flip: axis %d not in 0..2", axis);
    int from[3] = {0, 1, 2}, rev[3] = {0, 0, 0};
    rev[axis] = 1;
    return permute_copy(in, dims, elem, from, rev, out);
}
