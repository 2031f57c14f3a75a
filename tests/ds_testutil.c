#define _XOPEN_SOURCE 700
#include "ds_testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int dtu_tmpdir(const char *prefix, char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/%sXXXXXX", prefix);
    return mkdtemp(buf) ? 0 : -1;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void dtu_rm_rf(const char *dir) { nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

/* collected relative file paths of one walk */
static char **g_files;
static int g_n, g_cap;
static size_t g_root_len;

static int collect(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag != FTW_F)
        return 0;
    if (g_n == g_cap) {
        g_cap = g_cap ? 2 * g_cap : 64;
        g_files = realloc(g_files, (size_t)g_cap * sizeof *g_files);
    }
    g_files[g_n++] = strdup(p + g_root_len);
    return 0;
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **walk(const char *dir, int *n)
{
    g_files = NULL;
    g_n = g_cap = 0;
    g_root_len = strlen(dir);
    nftw(dir, collect, 16, FTW_PHYS);
    qsort(g_files, (size_t)g_n, sizeof *g_files, cmpstr);
    *n = g_n;
    return g_files;
}

static void free_list(char **l, int n)
{
    for (int i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static int same_bytes(const char *p, const char *q)
{
    FILE *f = fopen(p, "rb"), *g = fopen(q, "rb");
    int same = f && g;
    while (same) {
        int a = fgetc(f), b = fgetc(g);
        if (a != b)
            same = 0;
        if (a == EOF || b == EOF)
            break;
    }
    if (f)
        fclose(f);
    if (g)
        fclose(g);
    return same;
}

int dtu_tree_cmp(const char *a, const char *b, char *why, size_t nwhy)
{
    int na, nb;
    char **la = walk(a, &na);
    char **lb = walk(b, &nb);
    int diff = 0;
    if (na != nb) {
        snprintf(why, nwhy, "%d files vs %d files", na, nb);
        diff = 1;
    }
    for (int i = 0; !diff && i < na; i++) {
        if (strcmp(la[i], lb[i])) {
            snprintf(why, nwhy, "file %s vs %s", la[i], lb[i]);
            diff = 1;
            break;
        }
        char p[4096], q[4096];
        snprintf(p, sizeof p, "%s%s", a, la[i]);
        snprintf(q, sizeof q, "%s%s", b, lb[i]);
        if (!same_bytes(p, q)) {
            snprintf(why, nwhy, "%s differs", la[i]);
            diff = 1;
        }
    }
    free_list(la, na);
    free_list(lb, nb);
    return diff;
}

int dtu_count_files(const char *dir)
{
    int n;
    char **l = walk(dir, &n);
    free_list(l, n);
    return n;
}
