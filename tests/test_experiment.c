/* Experiment specs: layer resolution order (protocol < method < profile <
 * table < --set), tagged sections, method-declared keys, typed getters, and
 * the errors for unknown keys, bad values and unparsable text (each naming
 * the key and the layer), plus the written spec read back as a layer. */
#include "harness/experiment.h"
#include "kernels/error.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *PROTO = "[train]\niterations = 15000\nlr = 0.01\nschedule = constant\n"
                           "[data]\npatch = 80,112,112\nbatch = 4\n[eval]\nevery = 200\nstart = 800\n";
static const char *METHOD = "[method]\ntemperature = 0.1\nlambda = 0.5\n[train]\nschedule = step\n"
                            "[train:2d]\niterations = 30000\n[train:3d]\nlr = 0.02\n";
static const char *PROFILE = "[train]\niterations = 40\n[eval]\nevery = 20\n";
static const char *TABLE = "[method]\nlambda = 1.0\n";

START_TEST(test_resolution_order)
{
    ss_spec *s = ss_spec_new();
    ck_assert_ptr_nonnull(s);
    const char *tags[] = {"3d", "la"};
    TU_OK(ss_spec_set_tags(s, 2, tags));
    TU_OK(ss_spec_layer(s, PROTO, "protocol la", 0));
    TU_OK(ss_spec_layer(s, METHOD, "method mcnet", SS_SPEC_DECLARE));
    long it;
    TU_OK(ss_spec_long(s, "train.iterations", &it));
    ck_assert_int_eq(it, 15000); /* [train:2d] skipped for a 3d run */
    double lr;
    TU_OK(ss_spec_double(s, "train.lr", &lr));
    ck_assert_double_eq(lr, 0.02); /* [train:3d] applied */
    ck_assert_str_eq(ss_spec_get(s, "train.schedule"), "step");
    ck_assert_str_eq(ss_spec_origin(s, "train.schedule"), "method mcnet");
    TU_OK(ss_spec_layer(s, PROFILE, "profile smoke", 0));
    TU_OK(ss_spec_layer(s, TABLE, "table1.ini", 0));
    TU_OK(ss_spec_assign(s, "train.iterations=60", "--set"));
    TU_OK(ss_spec_long(s, "train.iterations", &it));
    ck_assert_int_eq(it, 60);
    ck_assert_str_eq(ss_spec_origin(s, "train.iterations"), "--set");
    ck_assert_str_eq(ss_spec_get(s, "method.lambda"), "1.0");
    ck_assert_str_eq(ss_spec_origin(s, "method.lambda"), "table1.ini");
    ck_assert_str_eq(ss_spec_get(s, "eval.every"), "20");
    ck_assert_str_eq(ss_spec_get(s, "eval.start"), "800");
    int p[3];
    TU_OK(ss_spec_int3(s, "data.patch", p));
    ck_assert(p[0] == 80 && p[1] == 112 && p[2] == 112);
    long d;
    TU_OK(ss_spec_long_or(s, "train.warmup_iters", 7, &d));
    ck_assert_int_eq(d, 7);

    /* the written spec read back gives the same values */
    char path[] = "/tmp/ss_spec_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    TU_OK(ss_spec_write(s, path));
    FILE *f = fopen(path, "r");
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    remove(path);
    ck_assert_ptr_nonnull(strstr(text, "iterations = 60  ; --set"));
    ss_spec *r = ss_spec_new();
    TU_OK(ss_spec_layer(r, text, "spec.ini", SS_SPEC_DECLARE));
    ck_assert_str_eq(ss_spec_get(r, "train.iterations"), "60");
    ck_assert_str_eq(ss_spec_get(r, "method.temperature"), "0.1");
    ck_assert_str_eq(ss_spec_get(r, "data.patch"), "80,112,112");
    ss_spec_free(r);
    ss_spec_free(s);
}
END_TEST

START_TEST(test_recipe_layer)
{
    ss_spec *s = ss_spec_new();
    TU_OK(ss_spec_layer(s, PROTO, "protocol la", 0));
    /* a borrowed recipe brings train/data/eval but neither declares nor sets [method] keys */
    TU_OK(ss_spec_layer(s, METHOD, "recipe of mcnet", SS_SPEC_NO_METHOD));
    ck_assert(!ss_spec_known(s, "method.temperature"));
    ck_assert_str_eq(ss_spec_get(s, "train.schedule"), "step");
    ss_spec_free(s);
}
END_TEST

START_TEST(test_errors)
{
    ss_spec *s = ss_spec_new();
    TU_OK(ss_spec_layer(s, PROTO, "protocol la", 0));
    ck_assert_int_eq(ss_spec_layer(s, "[train]\niters = 5\n", "profile smoke", 0), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "'train.iters'"));
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "profile smoke"));
    /* method keys are unknown unless the method's defaults declare them */
    ck_assert_int_eq(ss_spec_assign(s, "method.lambda=2", "--set"), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "'method.lambda' (from --set)"));
    ck_assert_int_eq(ss_spec_assign(s, "iterations", "--set"), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "section.key=value"));
    ck_assert_int_eq(ss_spec_layer(s, "[train\nlr = 1\n", "table1.ini", 0), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "table1.ini: cannot parse line 1"));
    ck_assert_int_eq(ss_spec_layer(s, "lr = 1\n", "x.ini", 0), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "outside a section"));
    TU_OK(ss_spec_assign(s, "train.lr=fast", "--set"));
    double lr;
    ck_assert_int_eq(ss_spec_double(s, "train.lr", &lr), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "train.lr = 'fast' (from --set) is not a number"));
    TU_OK(ss_spec_assign(s, "data.patch=80,112", "--set"));
    int p[3];
    ck_assert_int_eq(ss_spec_int3(s, "data.patch", p), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "data.patch"));
    long it;
    ck_assert_int_eq(ss_spec_long(s, "train.seed", &it), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "'train.seed' is not set"));
    TU_OK(ss_spec_assign(s, "train.iterations=12x", "--set"));
    ck_assert_int_eq(ss_spec_long(s, "train.iterations", &it), SS_ERR);
    ss_spec_free(s);
}
END_TEST

Suite *suite_experiment(void)
{
    Suite *s = suite_create("experiment");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_resolution_order);
    tcase_add_test(tc, test_recipe_layer);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}
