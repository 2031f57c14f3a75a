/* Golden-fixture generator and HDF5 readers (see golden_gen.h). */
#include "golden_gen.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001B3ull;
    }
    return h;
}

uint64_t hash64(uint64_t h, uint64_t j)
{
    uint64_t z = h + (j + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* 2u - 1 with u a 24-bit uniform: exact in float. */
float gen_unit(uint64_t h, uint64_t i)
{
    int64_t k = (int64_t)(hash64(h, i) >> 40);
    return (float)((double)(2 * k - (1 << 24)) / 16777216.0);
}

void gen_tensor(const char *name, float *v, size_t n, float center, float half)
{
    uint64_t h = fnv1a64(name);
    for (size_t i = 0; i < n; i++) {
        float hw = half * gen_unit(h, i);
        v[i] = center + hw;
    }
}


void *h5_array(hid_t f, const char *name, hid_t mem_type, size_t elem, size_t *n)
{
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    ck_assert_msg(ds >= 0, "golden fixture: fixture has no dataset '%s'", name);
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[5] = {1, 1, 1, 1, 1};
    int rank = H5Sget_simple_extent_ndims(sp);
    ck_assert_msg(rank >= 0 && rank <= 5, "golden fixture: dataset '%s' rank %d", name, rank);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    size_t cnt = 1;
    for (int i = 0; i < rank; i++)
        cnt *= (size_t)dims[i];
    void *buf = malloc(cnt * elem + 1);
    ck_assert(buf != NULL);
    ck_assert_msg(H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0,
                  "golden fixture: cannot read '%s'", name);
    H5Sclose(sp);
    H5Dclose(ds);
    *n = cnt;
    return buf;
}

/* Fixed-length string array: n NUL-terminated strings in one block. */
char **h5_strings(hid_t f, const char *name, size_t *n)
{
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    ck_assert_msg(ds >= 0, "golden fixture: fixture has no dataset '%s'", name);
    hid_t ft = H5Dget_type(ds);
    size_t len = H5Tget_size(ft);
    hid_t sp = H5Dget_space(ds);
    hsize_t dim = 0;
    H5Sget_simple_extent_dims(sp, &dim, NULL);
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, len);
    H5Tset_strpad(mt, H5T_STR_NULLPAD);
    char *raw = calloc((size_t)dim * len + 1, 1);
    char **out = malloc(((size_t)dim + 1) * sizeof *out + (size_t)dim * (len + 1));
    ck_assert(raw && out);
    ck_assert_msg(H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0,
                  "golden fixture: cannot read '%s'", name);
    char *blk = (char *)(out + dim + 1);
    for (size_t i = 0; i < dim; i++) {
        out[i] = blk + i * (len + 1);
        memcpy(out[i], raw + i * len, len);
        out[i][len] = 0;
    }
    out[dim] = NULL;
    free(raw);
    H5Tclose(mt);
    H5Sclose(sp);
    H5Tclose(ft);
    H5Dclose(ds);
    *n = (size_t)dim;
    return out;
}
