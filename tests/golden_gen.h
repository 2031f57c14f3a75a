/* Shared by the golden-fixture suites (models_golden, plugin_golden): the
 * deterministic weight generator of tests/golden/make_model_fixtures.py,
 * bit-identical to the script, and HDF5 readers for fixture arrays. */
#ifndef SS_GOLDEN_GEN_H
#define SS_GOLDEN_GEN_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

uint64_t fnv1a64(const char *s);
uint64_t hash64(uint64_t h, uint64_t j);
/* 2u - 1 with u a 24-bit uniform: exact in float. */
float gen_unit(uint64_t h, uint64_t i);
/* v[i] = center + half * gen_unit(fnv1a64(name), i) */
void gen_tensor(const char *name, float *v, size_t n, float center, float half);
/* A dataset of rank <= 5 read as mem_type (elem bytes each): malloc'd, *n
 * elements; a missing or unreadable dataset fails the running test. */
void *h5_array(hid_t f, const char *name, hid_t mem_type, size_t elem, size_t *n);
/* Fixed-length string array: *n NUL-terminated strings in one block, NULL-ended. */
char **h5_strings(hid_t f, const char *name, size_t *n);

#endif
