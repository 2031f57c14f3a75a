/* Philox-4x32-10: known-answer vectors (Random123's published KAT) and the
 * uniform mapping's range and mean. */
#include "kernels/rng.h"
#include "testutil.h"

#include <check.h>
#include <math.h>

static void kat(uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                uint32_t e0, uint32_t e1, uint32_t e2, uint32_t e3)
{
    uint32_t key[2] = {k0, k1}, ctr[4] = {c0, c1, c2, c3}, out[4];
    ss_philox4x32_10(key, ctr, out);
    ck_assert_uint_eq(out[0], e0);
    ck_assert_uint_eq(out[1], e1);
    ck_assert_uint_eq(out[2], e2);
    ck_assert_uint_eq(out[3], e3);
}

START_TEST(test_philox_kat)
{
    kat(0, 0, 0, 0, 0, 0, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u);
    kat(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu,
        0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu);
    kat(0xa4093822u, 0x299f31d0u, 0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u,
        0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u);
}
END_TEST

START_TEST(test_uniform_range_and_mean)
{
    double s = 0;
    const int n = 100000;
    for (int i = 0; i < n; i++) {
        float u = ss_rng_uniform(42, 3, 7, (uint64_t)i);
        ck_assert(u >= 0.f && u < 1.f);
        s += u;
    }
    /* mean of n uniforms has sd 1/sqrt(12 n) ~ 0.0009; 5 sd */
    ck_assert_double_lt(fabs(s / n - 0.5), 0.0046);
    /* different streams / steps give different numbers */
    ck_assert(ss_rng_bits(42, 3, 7, 0) != ss_rng_bits(42, 4, 7, 0));
    ck_assert(ss_rng_bits(42, 3, 7, 0) != ss_rng_bits(42, 3, 8, 0));
    ck_assert(ss_rng_bits(42, 3, 7, 0) != ss_rng_bits(43, 3, 7, 0));
}
END_TEST

Suite *suite_rng(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("philox");
    tcase_add_test(tc, test_philox_kat);
    tcase_add_test(tc, test_uniform_range_and_mean);
    suite_add_tcase(s, tc);
    return s;
}
