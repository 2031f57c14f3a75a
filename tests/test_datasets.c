/* Datasets: the protocol table, list files, the fixed splits and their
 * provenance digests, SHA-256 (FIPS 180-2 vectors), the first-N labeled rule
 * (ACDC patients -> slices), the readers on the real mini subsets (values and
 * axis order checked against h5py / raw NIfTI reads), `verify`, and damaged
 * inputs that must each fail with a message naming the file and the problem.
 * Tests run from the repository root; the real subsets are read from
 * ../shared/data (a test prints SKIP when a subset is absent). */
#include "datasets/dataset.h"
#include "datasets/ds_impl.h"
#include "datasets/verify.h"
#include "kernels/error.h"
#include "ds_testutil.h"
#include "testutil.h"

#include <check.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LA_MINI "../shared/data/LA-mini"
#define ACDC_MINI "../shared/data/ACDC-mini"
#define BRATS_MINI "../shared/data/BraTS-mini"

static int present(const char *dir)
{
    if (ds_dir_exists(dir))
        return 1;
    printf("SKIP: %s is absent\n", dir);
    return 0;
}

#define CK_ERR_HAS(s)                                                                            \
    ck_assert_msg(strstr(semiseg_error(), (s)) != NULL, "error '%s' lacks '%s'", semiseg_error(), \
                  (s))

static void tmpdir(char *buf, size_t n) { ck_assert_int_eq(dtu_tmpdir("ss_ds_", buf, n), 0); }
#define rm_rf dtu_rm_rf

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* ---- SHA-256 ----------------------------------------------------------------------- */
static void sha_hex(const void *p, size_t n, char hex[65])
{
    ds_sha256 s;
    uint8_t d[32];
    ds_sha256_init(&s);
    ds_sha256_update(&s, p, n);
    ds_sha256_final(&s, d);
    ds_sha256_hex(d, hex);
}

START_TEST(sha256_fips_vectors)
{
    char h[65];
    sha_hex("abc", 3, h);
    ck_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha_hex("", 0, h);
    ck_assert_str_eq(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha_hex(m2, strlen(m2), h);
    ck_assert_str_eq(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* one million 'a', fed in uneven pieces to exercise the block buffer */
    ds_sha256 s;
    uint8_t d[32];
    char a[997];
    memset(a, 'a', sizeof a);
    ds_sha256_init(&s);
    size_t left = 1000000;
    while (left) {
        size_t k = left < sizeof a ? left : sizeof a;
        ds_sha256_update(&s, a, k);
        left -= k;
    }
    ds_sha256_final(&s, d);
    ds_sha256_hex(d, h);
    ck_assert_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(fread(b, 1, (size_t)len, f), len);
    fclose(f);
    b[len] = '\0';
    *n = (size_t)len;
    return b;
}

/* ---- splits ------------------------------------------------------------------------- */
START_TEST(splits_line_counts_and_provenance)
{
    static const struct {
        const char *file;
        int lines;
    } want[] = {{"la_train.list", 80},        {"la_test.list", 20},          {"pancreas_train.list", 62},
                {"pancreas_test.list", 20},   {"acdc_train_slices.list", 1312}, {"acdc_train.list", 140},
                {"acdc_val.list", 20},        {"acdc_test.list", 40},        {"acdc_all_slices.list", 1902}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char p[256];
        snprintf(p, sizeof p, "datasets/splits/%s", want[i].file);
        char **ids;
        int n;
        TU_OK(ds_read_list("test", p, &ids, &n));
        ck_assert_msg(n == want[i].lines, "%s: %d lines, want %d", p, n, want[i].lines);
        ds_free_list(ids, n);
    }
    ck_assert(ds_file_exists("datasets/splits/SOURCES.txt"));
    /* the digests recorded in SOURCES.txt */
    static const struct {
        const char *file, *sha;
    } dig[] = {
        {"acdc_train_slices.list", "1b21b2a69d1b28b4dfce6837fdb0572414d337566b51b3dd0e0fda342a6f0648"},
        {"acdc_train.list", "97a399f7bdbfe96b93cf8731a4bf3dd78562269bada57464fdc0dbc3f0f45746"},
        {"acdc_val.list", "61b935c936d8e12f7889e82d954f421fa25fb95305e92a476096b3242de8777d"},
        {"acdc_test.list", "98161bdfaad072bf5713d7345751ab5a2bf3e5468b8edb03fd9ebfedc4503671"},
        {"acdc_all_slices.list", "30542ca264d0d4ed03d4efa170e298d06607e26090a1d96e73793c49da1ca70e"},
    };
    for (size_t i = 0; i < sizeof dig / sizeof dig[0]; i++) {
        char p[256], h[65];
        snprintf(p, sizeof p, "datasets/splits/%s", dig[i].file);
        size_t n;
        char *b = slurp(p, &n);
        sha_hex(b, n, h);
        free(b);
        ck_assert_msg(!strcmp(h, dig[i].sha), "%s: sha256 %s, SOURCES.txt says %s", p, h, dig[i].sha);
    }
    /* first-N labeled cases named in the protocol */
    char **ids;
    int n;
    TU_OK(ds_read_list("test", "datasets/splits/la_train.list", &ids, &n));
    ck_assert_str_eq(ids[0], "06SR5RBREL16DQ6M8LWS");
    ck_assert_str_eq(ids[7], "38CWS74285MFGZZXR09Z");
    ck_assert_str_eq(ids[15], "5BHTH9RHH3PQT913I59W");
    ds_free_list(ids, n);
    TU_OK(ds_read_list("test", "datasets/splits/pancreas_train.list", &ids, &n));
    ck_assert_str_eq(ids[0], "image0057");
    ck_assert_str_eq(ids[5], "image0017");
    ck_assert_str_eq(ids[11], "image0019");
    ds_free_list(ids, n);
}
END_TEST

START_TEST(acdc_patients_to_slices)
{
    char **ids;
    int n;
    TU_OK(ds_read_list("acdc", "datasets/splits/acdc_train_slices.list", &ids, &n));
    static const int P[] = {0, 3, 7, 14, 21, 28, 35, 70}, S[] = {0, 68, 136, 256, 396, 512, 664, 1312};
    for (int i = 0; i < 8; i++) {
        int rows = -1;
        TU_OK(ds_acdc_patients_to_rows("acdc", ids, n, P[i], &rows));
        ck_assert_msg(rows == S[i], "%d patients -> %d slices, want %d", P[i], rows, S[i]);
    }
    int rows;
    ck_assert_int_eq(ds_acdc_patients_to_rows("acdc", ids, n, 71, &rows), SS_ERR);
    CK_ERR_HAS("70 patients");
    ck_assert_int_eq(ds_acdc_patients_to_rows("acdc", ids, n, -1, &rows), SS_ERR);
    ds_free_list(ids, n);
}
END_TEST

START_TEST(info_table)
{
    const ss_dataset_info *la = ss_dataset_lookup("la");
    ck_assert_ptr_nonnull(la);
    ck_assert_int_eq(la->dims, 3);
    ck_assert_int_eq(la->classes, 2);
    ck_assert(la->patch[0] == 80 && la->patch[1] == 112 && la->patch[2] == 112);
    ck_assert(la->stride[0] == 4 && la->stride[1] == 18 && la->stride[2] == 18);
    ck_assert_int_eq(la->select_split, SS_SPLIT_TEST);
    ck_assert_int_eq(la->aug, SS_AUG_LA);
    ck_assert_str_eq(la->labeled_unit, "cases");
    const ss_dataset_info *pa = ss_dataset_lookup("pancreas");
    ck_assert(pa->patch[0] == 96 && pa->patch[1] == 96 && pa->patch[2] == 96);
    ck_assert(pa->stride[0] == 16 && pa->stride[1] == 16 && pa->stride[2] == 16);
    ck_assert_int_eq(pa->aug, SS_AUG_CROP);
    ck_assert_int_eq(pa->select_split, SS_SPLIT_TEST);
    const ss_dataset_info *ac = ss_dataset_lookup("acdc");
    ck_assert_int_eq(ac->dims, 2);
    ck_assert_int_eq(ac->classes, 4);
    ck_assert(ac->patch[0] == 1 && ac->patch[1] == 256 && ac->patch[2] == 256);
    ck_assert_int_eq(ac->select_split, SS_SPLIT_VAL);
    ck_assert_str_eq(ac->labeled_unit, "patients");
    ck_assert_int_eq(ss_dataset_lookup("kvasir")->in_channels, 3);
    ck_assert_int_eq(ss_dataset_lookup("brats")->in_channels, 2);
    int n = 0;
    for (const char *const *nm = ss_dataset_names(); *nm; nm++, n++) {
        const ss_dataset_info *i = ss_dataset_lookup(*nm);
        ck_assert_ptr_nonnull(i);
        ck_assert_str_eq(i->name, *nm);
        /* a twin keeps the real set's channels, classes, dims and selection split */
        const ss_dataset_info *r = ss_dataset_lookup(i->real);
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(i->classes, r->classes);
        ck_assert_int_eq(i->in_channels, r->in_channels);
        ck_assert_int_eq(i->dims, r->dims);
        ck_assert_int_eq(i->select_split, r->select_split);
    }
    ck_assert_int_eq(n, 10);
    ck_assert_ptr_null(ss_dataset_lookup("la2"));
    CK_ERR_HAS("unknown dataset 'la2'");
}
END_TEST

START_TEST(list_whitespace_and_errors)
{
    char dir[64], p[128];
    tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/a.list", dir);
    write_text(p, "  case 1\r\n\r\n\tcase2 \r\n\n");
    char **ids;
    int n;
    TU_OK(ds_read_list("la", p, &ids, &n));
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(ids[0], "case1");
    ck_assert_str_eq(ids[1], "case2");
    ds_free_list(ids, n);
    write_text(p, " \r\n\n\t\n");
    ck_assert_int_eq(ds_read_list("la", p, &ids, &n), SS_ERR);
    CK_ERR_HAS("is empty");
    CK_ERR_HAS(p);
    snprintf(p, sizeof p, "%s/none.list", dir);
    ck_assert_int_eq(ds_read_list("la", p, &ids, &n), SS_ERR);
    CK_ERR_HAS(p);
    rm_rf(dir);
}
END_TEST

/* ---- real subsets ------------------------------------------------------------------- */
START_TEST(real_la_mini)
{
    if (!present(LA_MINI))
        return;
    ss_dataset *ds;
    TU_OK(ss_dataset_open("la", LA_MINI, &ds));
    ck_assert_int_eq(ss_dataset_count(ds, SS_SPLIT_TRAIN), 8);
    ck_assert_int_eq(ss_dataset_count(ds, SS_SPLIT_VAL), 0);
    ck_assert_int_eq(ss_dataset_count(ds, SS_SPLIT_TEST), 3);
    ck_assert_str_eq(ss_dataset_case(ds, SS_SPLIT_TRAIN, 0), "06SR5RBREL16DQ6M8LWS");
    ck_assert_ptr_null(ss_dataset_case(ds, SS_SPLIT_TRAIN, 8));
    /* sha256 of train.list + test.list (sha256sum of their concatenation) */
    ck_assert_str_eq(ss_dataset_split_sha256(ds),
                     "f2c46b561491a42f595234904a5c151f035bfa7b4e74be85b3262645b1a5e960");
    ss_volume v;
    TU_OK(ss_dataset_load(ds, SS_SPLIT_TRAIN, 0, &v));
    ck_assert_str_eq(v.id, "06SR5RBREL16DQ6M8LWS");
    /* h5py: image shape (183, 140, 88) = (x, y, z) -> (D, H, W) = (88, 140, 183) */
    ck_assert(v.c == 1 && v.d == 88 && v.h == 140 && v.w == 183);
#define AT(z, y, x) v.image[((size_t)(z)*v.h + (y)) * v.w + (x)]
    /* h5py values image[100,70,40], image[5,130,87], image[182,0,3] (exact float32) */
    ck_assert_float_eq(AT(40, 70, 100), 3.8265509605407715f);
    ck_assert_float_eq(AT(87, 130, 5), -0.4738579988479614f);
    ck_assert_float_eq(AT(3, 0, 182), 1.8987815380096436f);
#undef AT
    size_t fg = 0, n = (size_t)v.d * v.h * v.w;
    for (size_t i = 0; i < n; i++)
        fg += v.label[i];
    ck_assert_uint_eq(fg, 154296); /* h5py label.sum() */
    ck_assert(v.label[((size_t)60 * v.h + 52) * v.w + 15] == 1); /* first fg voxel (15,52,60) */
    ss_volume_free(&v);
    int rows;
    TU_OK(ss_dataset_labeled_rows(ds, 4, &rows));
    ck_assert_int_eq(rows, 4);
    ck_assert_int_eq(ss_dataset_labeled_rows(ds, 9, &rows), SS_ERR);
    ck_assert_int_eq(ss_dataset_load(ds, SS_SPLIT_VAL, 0, &v), SS_ERR);
    ss_dataset_close(ds);
    ss_verify_report rep;
    TU_OK(ss_dataset_verify("la", LA_MINI, NULL, &rep));
    ck_assert_int_eq(rep.cases[SS_SPLIT_TRAIN] + rep.cases[SS_SPLIT_TEST], 11);
}
END_TEST

START_TEST(real_acdc_mini)
{
    if (!present(ACDC_MINI))
        return;
    ss_dataset *ds;
    TU_OK(ss_dataset_open("acdc", ACDC_MINI, &ds));
    ck_assert_int_eq(ss_dataset_count(ds, SS_SPLIT_TRAIN), 102);
    ck_assert_int_eq(ss_dataset_count(ds, SS_SPLIT_VAL), 2);
    ck_assert_int_eq(ss_dataset_count(ds, SS_SPLIT_TEST), 4);
    ck_assert_str_eq(ss_dataset_split_sha256(ds),
                     "ae1975ae2010d87276e17a6275f96543c7bfdd3a25e5d5ffc3b785b821d5dd21");
    int rows;
    TU_OK(ss_dataset_labeled_rows(ds, 3, &rows));
    ck_assert_int_eq(rows, 68);
    TU_OK(ss_dataset_labeled_rows(ds, 5, &rows));
    ck_assert_int_eq(rows, 102);
    ck_assert_int_eq(ss_dataset_labeled_rows(ds, 6, &rows), SS_ERR);
    ss_volume v;
    ck_assert_str_eq(ss_dataset_case(ds, SS_SPLIT_TRAIN, 2), "patient099_frame01_slice_1");
    TU_OK(ss_dataset_load(ds, SS_SPLIT_TRAIN, 2, &v));
    ck_assert(v.c == 1 && v.d == 1 && v.h == 224 && v.w == 154);
    ck_assert_float_eq(v.image[100 * 154 + 77], 0.4032258093357086f); /* h5py image[100,77] */
    ss_volume_free(&v);
    ck_assert_str_eq(ss_dataset_case(ds, SS_SPLIT_TEST, 0), "patient011_frame01");
    TU_OK(ss_dataset_load(ds, SS_SPLIT_TEST, 0, &v));
    ck_assert(v.c == 1 && v.d == 9 && v.h == 256 && v.w == 216);
    ck_assert_float_eq(v.image[((size_t)4 * 256 + 100) * 216 + 120], 0.06995885074138641f);
    size_t cnt[4] = {0}, n = (size_t)v.d * v.h * v.w;
    for (size_t i = 0; i < n; i++)
        cnt[v.label[i]]++;
    ck_assert(cnt[0] == 473765 && cnt[1] == 7120 && cnt[2] == 6022 && cnt[3] == 10757);
    ss_volume_free(&v);
    ss_dataset_close(ds);
    TU_OK(ss_dataset_verify("acdc", ACDC_MINI, NULL, NULL));
}
END_TEST

START_TEST(real_brats_mini)
{
    if (!present(BRATS_MINI))
        return;
    ss_dataset *ds;
    TU_OK(ss_dataset_open("brats", BRATS_MINI, &ds));
    ck_assert_int_eq(ss_dataset_count(ds, SS_SPLIT_TRAIN), 1);
    ck_assert_int_eq(ss_dataset_count(ds, SS_SPLIT_TEST), 1);
    ck_assert_str_eq(ss_dataset_case(ds, SS_SPLIT_TEST, 0), "brats_2013_pat0001_1");
    ss_volume v;
    TU_OK(ss_dataset_load(ds, SS_SPLIT_TEST, 0, &v));
    ck_assert(v.c == 2 && v.d == 155 && v.h == 240 && v.w == 240);
    size_t n = (size_t)v.d * v.h * v.w;
#define AT(c, z, y, x) v.image[(c)*n + ((size_t)(z)*240 + (y)) * 240 + (x)]
    /* raw NIfTI reads (numpy, (z, y, x) order): T1c[70,100,120], Flair[70,100,120], T1c[10,20,200] */
    ck_assert_float_eq(AT(0, 70, 100, 120), 0.17965658009052277f);
    ck_assert_float_eq(AT(1, 70, 100, 120), 1.064025640487671f);
    ck_assert_float_eq(AT(0, 10, 20, 200), -4.7551374435424805f);
#undef AT
    size_t cnt[5] = {0};
    for (size_t i = 0; i < n; i++)
        cnt[v.label[i]]++;
    ck_assert(cnt[0] == 8816276 && cnt[1] == 26371 && cnt[2] == 53050 && cnt[3] == 818 &&
              cnt[4] == 31485);
    ss_volume_free(&v);
    ss_dataset_close(ds);
    TU_OK(ss_dataset_verify("brats", BRATS_MINI, NULL, NULL));
}
END_TEST

/* ---- damaged inputs ------------------------------------------------------------------- */
/* Writes an LA-layout flat case ROOT/<id>.h5 stored (x, y, z) = (6, 5, 4). */
enum { BAD_OK, BAD_NO_LABEL, BAD_INT_IMAGE, BAD_LABEL7, BAD_RANK2, BAD_SHAPE };
static void write_case(const char *root, const char *id, int kind)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s.h5", root, id);
    hsize_t dims[3] = {6, 5, 4}, ldims[3] = {6, 5, kind == BAD_SHAPE ? 3 : 4};
    int rank = kind == BAD_RANK2 ? 2 : 3;
    float img[120];
    int iimg[120];
    uint8_t lab[120];
    for (int i = 0; i < 120; i++) {
        img[i] = (float)i / 10;
        iimg[i] = i;
        lab[i] = i % 7 == 0;
    }
    if (kind == BAD_LABEL7)
        lab[37] = 7;
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert(f >= 0);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t lsp = H5Screate_simple(rank, ldims, NULL);
    hid_t d = H5Dcreate2(f, "image", kind == BAD_INT_IMAGE ? H5T_STD_I32LE : H5T_IEEE_F32LE, sp,
                         H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, kind == BAD_INT_IMAGE ? H5T_NATIVE_INT : H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL,
             H5P_DEFAULT, kind == BAD_INT_IMAGE ? (void *)iimg : (void *)img);
    H5Dclose(d);
    if (kind != BAD_NO_LABEL) {
        d = H5Dcreate2(f, "label", H5T_STD_U8LE, lsp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab);
        H5Dclose(d);
    }
    /* an extra dataset the reader must ignore */
    d = H5Dcreate2(f, "scribble", H5T_STD_U8LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab);
    H5Dclose(d);
    H5Sclose(sp);
    H5Sclose(lsp);
    H5Fclose(f);
}

static void truncate_file(const char *path)
{
    size_t n;
    char *b = slurp(path, &n);
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n / 2, f);
    fclose(f);
    free(b);
}

START_TEST(bad_files_clear_errors)
{
    char root[64], p[256];
    tmpdir(root, sizeof root);
    write_case(root, "good", BAD_OK);
    write_case(root, "trunc", BAD_OK);
    snprintf(p, sizeof p, "%s/trunc.h5", root);
    truncate_file(p);
    write_case(root, "nolabel", BAD_NO_LABEL);
    write_case(root, "intimage", BAD_INT_IMAGE);
    write_case(root, "label7", BAD_LABEL7);
    write_case(root, "rank2", BAD_RANK2);
    write_case(root, "shape", BAD_SHAPE);
    snprintf(p, sizeof p, "%s/train.list", root);
    write_text(p, "good\r\ntrunc\r\nnolabel\r\nintimage\r\nlabel7\r\nrank2\r\nshape\r\n");
    snprintf(p, sizeof p, "%s/test.list", root);
    write_text(p, "good\n");
    ss_dataset *ds;
    TU_OK(ss_dataset_open("la", root, &ds));
    ss_volume v;
    /* the good case: stored (x, y, z) = (6, 5, 4) -> (D, H, W) = (4, 5, 6), value i/10 at
     * stored index i = (x * 5 + y) * 4 + z */
    TU_OK(ss_dataset_load(ds, SS_SPLIT_TRAIN, 0, &v));
    ck_assert(v.c == 1 && v.d == 4 && v.h == 5 && v.w == 6);
    for (int z = 0; z < 4; z++)
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 6; x++) {
                int s = (x * 5 + y) * 4 + z;
                ck_assert_float_eq(v.image[(z * 5 + y) * 6 + x], (float)s / 10);
                ck_assert_int_eq(v.label[(z * 5 + y) * 6 + x], s % 7 == 0);
            }
    ss_volume_free(&v);
    static const struct {
        int row;
        const char *file, *expect;
    } bad[] = {
        {1, "trunc.h5", "cannot be opened as HDF5 (truncated"},
        {2, "nolabel.h5", "has no dataset 'label'"},
        {3, "intimage.h5", "'image' is integer (4 bytes), expected floating point"},
        {4, "label7.h5", "'label' value 7 at element 37, expected values in [0, 2)"},
        {5, "rank2.h5", "expected rank 3"},
        {6, "shape.h5", "'image' is 6x5x4 but 'label' is 6x5x3"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(ss_dataset_load(ds, SS_SPLIT_TRAIN, bad[i].row, &v), SS_ERR);
        CK_ERR_HAS("la: ");
        CK_ERR_HAS(bad[i].file);
        CK_ERR_HAS(bad[i].expect);
        ck_assert_ptr_null(v.image);
    }
    ss_dataset_close(ds);
    /* verify lists every failing case */
    ss_verify_report rep;
    ck_assert_int_eq(ss_dataset_verify("la", root, NULL, &rep), SS_ERR);
    ck_assert_int_eq(rep.failed[SS_SPLIT_TRAIN], 6);
    ck_assert_int_eq(rep.failed[SS_SPLIT_TEST], 0);
    CK_ERR_HAS("6 of 8 cases failed");
    CK_ERR_HAS("trunc.h5");
    /* a list naming a missing case */
    snprintf(p, sizeof p, "%s/test.list", root);
    write_text(p, "good\nghost\n");
    ck_assert_int_eq(ss_dataset_open("la", root, &ds), SS_ERR);
    CK_ERR_HAS("case 'ghost'");
    CK_ERR_HAS("ghost.h5 exists");
    CK_ERR_HAS("test.list");
    ck_assert_int_eq(ss_dataset_verify("la", root, NULL, &rep), SS_ERR);
    ck_assert_int_eq(rep.failed[SS_SPLIT_TEST], 1);
    /* the same id in train and test */
    write_text(p, "good\n");
    char *text = NULL;
    size_t tlen = 0;
    FILE *mem = open_memstream(&text, &tlen);
    ck_assert_int_eq(ss_dataset_verify("la", root, mem, &rep), SS_ERR);
    fclose(mem);
    ck_assert_int_eq(rep.list_errors, 1);
    CK_ERR_HAS("1 list problem(s)");
    ck_assert_msg(strstr(text, "LIST  'good' is in both train and test"), "%s", text);
    ck_assert_msg(strstr(text, "FAIL  train row 4 'label7'"), "%s", text);
    ck_assert_msg(strstr(text, "result: FAILED (6 of 8 cases failed, 1 list problem(s))"), "%s",
                  text);
    free(text);
    /* an empty list */
    write_text(p, "\n\n");
    ck_assert_int_eq(ss_dataset_open("la", root, &ds), SS_ERR);
    CK_ERR_HAS("test.list is empty");
    /* no list at all */
    remove(p);
    ck_assert_int_eq(ss_dataset_open("la", root, &ds), SS_ERR);
    CK_ERR_HAS("test.list does not exist");
    ck_assert_int_eq(ss_dataset_open("la", "/nonexistent/root", &ds), SS_ERR);
    CK_ERR_HAS("is not a folder");
    rm_rf(root);
}
END_TEST

/* A Pancreas-layout case with a float label (as the real files) must convert;
 * a non-integral float label must fail. */
START_TEST(float_labels)
{
    char root[64], p[256];
    tmpdir(root, sizeof root);
    snprintf(p, sizeof p, "%s/Pancreas_h5", root);
    TU_OK(ss_mkdirs(p));
    float img[24], lab[24];
    uint8_t u[24];
    for (int i = 0; i < 24; i++) {
        img[i] = (float)i;
        lab[i] = (float)(i % 2);
        u[i] = (uint8_t)(i % 2);
    }
    (void)u;
    int dims[3] = {4, 3, 2};
    snprintf(p, sizeof p, "%s/Pancreas_h5/image0001_norm.h5", root);
    TU_OK(sy_write_h5(p, 3, dims, img, u, 1));
    lab[5] = 0.5f;
    uint8_t u2[24];
    memcpy(u2, u, 24);
    snprintf(p, sizeof p, "%s/image0002.h5", root); /* flat layout */
    {
        hsize_t hd[3] = {4, 3, 2};
        hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        hid_t sp = H5Screate_simple(3, hd, NULL);
        hid_t d = H5Dcreate2(f, "image", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, img);
        H5Dclose(d);
        d = H5Dcreate2(f, "label", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab);
        H5Dclose(d);
        H5Sclose(sp);
        H5Fclose(f);
    }
    snprintf(p, sizeof p, "%s/train.list", root);
    write_text(p, "image0001\nimage0002\n");
    snprintf(p, sizeof p, "%s/test.list", root);
    write_text(p, "image0001\n");
    ss_dataset *ds;
    TU_OK(ss_dataset_open("pancreas", root, &ds));
    ss_volume v;
    TU_OK(ss_dataset_load(ds, SS_SPLIT_TRAIN, 0, &v));
    ck_assert(v.d == 2 && v.h == 3 && v.w == 4);
    int ones = 0;
    for (int i = 0; i < 24; i++)
        ones += v.label[i];
    ck_assert_int_eq(ones, 12);
    ss_volume_free(&v);
    ck_assert_int_eq(ss_dataset_load(ds, SS_SPLIT_TRAIN, 1, &v), SS_ERR);
    CK_ERR_HAS("pancreas: ");
    CK_ERR_HAS("image0002.h5");
    CK_ERR_HAS("'label' value 0.5 at element 5, expected integers in [0, 2)");
    ss_dataset_close(ds);
    rm_rf(root);
}
END_TEST

/* Damaged JPEG / PNG / NIfTI files in synthetic Kvasir and BraTS roots. */
START_TEST(bad_image_and_nifti_files)
{
    char root[64], p[512];
    tmpdir(root, sizeof root);
    TU_OK(ss_synth_write("synth-kvasir", root, 1, 0.5));
    ss_dataset *ds;
    ss_volume v;
    TU_OK(ss_dataset_open("synth-kvasir", root, &ds));
    const char *id = ss_dataset_case(ds, SS_SPLIT_TRAIN, 0);
    snprintf(p, sizeof p, "%s/images/%s.jpg", root, id);
    truncate_file(p);
    ck_assert_int_eq(ss_dataset_load(ds, SS_SPLIT_TRAIN, 0, &v), SS_ERR);
    CK_ERR_HAS("synth-kvasir: ");
    CK_ERR_HAS(p);
    CK_ERR_HAS("not a readable JPEG");
    id = ss_dataset_case(ds, SS_SPLIT_TRAIN, 1);
    snprintf(p, sizeof p, "%s/masks/%s.png", root, id);
    write_text(p, "not a png");
    ck_assert_int_eq(ss_dataset_load(ds, SS_SPLIT_TRAIN, 1, &v), SS_ERR);
    CK_ERR_HAS(p);
    CK_ERR_HAS("is not a PNG file");
    TU_OK(ss_dataset_load(ds, SS_SPLIT_TRAIN, 2, &v));
    ck_assert(v.c == 3 && v.d == 1);
    ss_volume_free(&v);
    ss_dataset_close(ds);
    rm_rf(root);

    tmpdir(root, sizeof root);
    TU_OK(ss_synth_write("synth-brats", root, 1, 0.5));
    TU_OK(ss_dataset_open("synth-brats", root, &ds));
    id = ss_dataset_case(ds, SS_SPLIT_TRAIN, 0);
    snprintf(p, sizeof p, "%s/%s/%s_flair.nii.gz", root, id, id);
    truncate_file(p);
    ck_assert_int_eq(ss_dataset_load(ds, SS_SPLIT_TRAIN, 0, &v), SS_ERR);
    CK_ERR_HAS("synth-brats: ");
    CK_ERR_HAS(p);
    CK_ERR_HAS("cannot be read as NIfTI");
    ss_dataset_close(ds);
    id = "BraTS_Synth_002";
    snprintf(p, sizeof p, "%s/%s/%s_seg.nii.gz", root, id, id);
    ck_assert_int_eq(remove(p), 0);
    ck_assert_int_eq(ss_dataset_open("synth-brats", root, &ds), SS_ERR);
    CK_ERR_HAS(p);
    CK_ERR_HAS("does not exist");
    rm_rf(root);
}
END_TEST

/* LA case folders (<root>/2018LA_Seg_Training Set/<ID>/mri_norm2.h5) with the
 * lists inside that folder, and the flat <root>/<ID>.h5 layout beside it. */
START_TEST(la_layouts)
{
    char root[64], p[512];
    tmpdir(root, sizeof root);
    snprintf(p, sizeof p, "%s/2018LA_Seg_Training Set/CASEA", root);
    TU_OK(ss_mkdirs(p));
    write_case(p, "mri_norm2", BAD_OK);
    write_case(root, "CASEB", BAD_OK);
    snprintf(p, sizeof p, "%s/2018LA_Seg_Training Set/train.list", root);
    write_text(p, "CASEA\nCASEB\n");
    snprintf(p, sizeof p, "%s/2018LA_Seg_Training Set/test.list", root);
    write_text(p, "CASEA\n");
    ss_dataset *ds;
    TU_OK(ss_dataset_open("la", root, &ds));
    ck_assert_int_eq(ss_dataset_count(ds, SS_SPLIT_TRAIN), 2);
    for (int i = 0; i < 2; i++) {
        ss_volume v;
        TU_OK(ss_dataset_load(ds, SS_SPLIT_TRAIN, i, &v));
        ck_assert(v.d == 4 && v.h == 5 && v.w == 6);
        ck_assert_str_eq(v.id, i ? "CASEB" : "CASEA");
        ss_volume_free(&v);
    }
    ss_dataset_close(ds);
    rm_rf(root);
}
END_TEST

Suite *suite_datasets(void)
{
    Suite *s = suite_create("datasets");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, sha256_fips_vectors);
    tcase_add_test(tc, splits_line_counts_and_provenance);
    tcase_add_test(tc, acdc_patients_to_slices);
    tcase_add_test(tc, info_table);
    tcase_add_test(tc, list_whitespace_and_errors);
    tcase_add_test(tc, real_la_mini);
    tcase_add_test(tc, real_acdc_mini);
    tcase_add_test(tc, real_brats_mini);
    tcase_add_test(tc, bad_files_clear_errors);
    tcase_add_test(tc, float_labels);
    tcase_add_test(tc, la_layouts);
    tcase_add_test(tc, bad_image_and_nifti_files);
    suite_add_tcase(s, tc);
    return s;
}
