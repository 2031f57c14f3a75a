/* `semiseg data`: write synthetic twins (synth) and check data roots (verify). */
#include "datasets/dataset.h"
#include "datasets/verify.h"
#include "kernels/error.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void list_names(FILE *f, int synth_only)
{
    fprintf(f, "datasets:");
    for (const char *const *n = ss_dataset_names(); *n; n++)
        if (!synth_only || !strncmp(*n, "synth-", 6))
            fprintf(f, " %s", *n);
    fprintf(f, "\n");
}

static void usage(FILE *f)
{
    fprintf(f, "usage: semiseg data synth --dataset NAME --out DIR [--seed S] [--scale X]\n"
               "       semiseg data verify ROOT --dataset NAME\n\n"
               "Run `semiseg data synth --help` or `semiseg data verify --help` for details.\n");
}

static void usage_synth(FILE *f)
{
    fprintf(f,
            "usage: semiseg data synth --dataset NAME --out DIR [--seed S] [--scale X]\n\n"
            "Writes the synthetic twin NAME into DIR in the native layout and list files of\n"
            "the dataset it stands for, so the same reader loads it (`semiseg data verify DIR\n"
            "--dataset NAME` checks it). The output is written to DIR.tmp and renamed to DIR\n"
            "when complete; DIR must not exist yet. Same seed and scale -> identical files.\n\n"
            "  --dataset NAME  synth-la, synth-pancreas, synth-acdc, synth-kvasir, synth-brats\n"
            "  --out DIR       output folder (created)\n"
            "  --seed S        random seed (default 1)\n"
            "  --scale X       spatial size factor, 0.25 .. 16 (default 1 = small: 3-D\n"
            "                  twins ~48x64x64 voxels, 2-D slices ~64x64)\n");
}

static void usage_verify(FILE *f)
{
    fprintf(f,
            "usage: semiseg data verify ROOT --dataset NAME\n\n"
            "Reads every case listed under ROOT (train / val / test lists of dataset NAME)\n"
            "and checks that its files exist and open, hold the expected keys, dtypes,\n"
            "ranks, channels and shapes, that label values lie in [0, classes), and that\n"
            "the lists have no duplicate ids and no id (ACDC: patient) in two splits.\n"
            "Prints a summary per split (cases, shape ranges, intensity range, label\n"
            "histogram) and one line per failing case; exits 1 when anything failed.\n\n");
    list_names(f, 0);
}

static int rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return -1;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_tree(sub);
        }
        closedir(d);
        return rmdir(path);
    }
    return unlink(path);
}

static int cmd_synth(int argc, char **argv)
{
    const char *name = NULL, *out = NULL;
    unsigned long long seed = 1;
    double scale = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage_synth(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "semiseg data synth: %s needs a value (see --help)\n", a);
            return 2;
        }
        const char *v = argv[++i];
        char *end;
        if (!strcmp(a, "--dataset"))
            name = v;
        else if (!strcmp(a, "--out"))
            out = v;
        else if (!strcmp(a, "--seed")) {
            errno = 0;
            seed = strtoull(v, &end, 10);
            if (errno || *end || !*v || v[0] == '-') {
                fprintf(stderr, "semiseg data synth: --seed '%s' is not a non-negative integer\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--scale")) {
            scale = strtod(v, &end);
            if (*end || !*v || !(scale >= 0.25 && scale <= 16)) {
                fprintf(stderr, "semiseg data synth: --scale '%s' must be a number in 0.25 .. 16\n",
                        v);
                return 2;
            }
        } else {
            fprintf(stderr, "semiseg data synth: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!name || !out) {
        fprintf(stderr, "semiseg data synth: --dataset and --out are required (see --help)\n");
        return 2;
    }
    if (!ss_dataset_lookup(name) || strncmp(name, "synth-", 6)) {
        fprintf(stderr, "semiseg data synth: '%s' is not a synthetic twin; ", name);
        list_names(stderr, 1);
        return 2;
    }
    struct stat st;
    if (stat(out, &st) == 0) {
        fprintf(stderr, "semiseg data synth: %s already exists (choose a new folder)\n", out);
        return 1;
    }
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", out) >= (int)sizeof tmp) {
        fprintf(stderr, "semiseg data synth: path too long: %s\n", out);
        return 2;
    }
    rm_tree(tmp);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (ss_synth_write(name, tmp, (uint64_t)seed, scale) != 0) {
        fprintf(stderr, "semiseg data synth: %s\n", semiseg_error());
        rm_tree(tmp);
        return 1;
    }
    if (rename(tmp, out) != 0) {
        fprintf(stderr, "semiseg data synth: cannot rename %s to %s: %s\n", tmp, out,
                strerror(errno));
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    ss_dataset *ds;
    if (ss_dataset_open(name, out, &ds) != 0) {
        fprintf(stderr, "semiseg data synth: wrote %s but cannot open it: %s\n", out,
                semiseg_error());
        return 1;
    }
    printf("%s (seed %llu, scale %g) -> %s in %.2f s: train %d, val %d, test %d rows; split "
           "sha256 %s\n",
           name, seed, scale, out, sec, ss_dataset_count(ds, SS_SPLIT_TRAIN),
           ss_dataset_count(ds, SS_SPLIT_VAL), ss_dataset_count(ds, SS_SPLIT_TEST),
           ss_dataset_split_sha256(ds));
    ss_dataset_close(ds);
    return 0;
}

static int cmd_verify(int argc, char **argv)
{
    const char *name = NULL, *root = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage_verify(stdout);
            return 0;
        }
        if (!strcmp(a, "--dataset")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "semiseg data verify: --dataset needs a value (see --help)\n");
                return 2;
            }
            name = argv[++i];
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "semiseg data verify: unknown option '%s' (see --help)\n", a);
            return 2;
        } else if (!root) {
            root = a;
        } else {
            fprintf(stderr, "semiseg data verify: more than one ROOT given ('%s', '%s')\n", root, a);
            return 2;
        }
    }
    if (!name || !root) {
        fprintf(stderr, "semiseg data verify: ROOT and --dataset are required (see --help)\n");
        return 2;
    }
    if (!ss_dataset_lookup(name)) {
        fprintf(stderr, "semiseg data verify: %s\n", semiseg_error());
        return 2;
    }
    if (ss_dataset_verify(name, root, stdout, NULL) != 0) {
        fflush(stdout);
        fprintf(stderr, "semiseg data verify: %s\n", semiseg_error());
        return 1;
    }
    return 0;
}

int ss_cmd_data(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(sub, "synth"))
        return cmd_synth(argc - 1, argv + 1);
    if (!strcmp(sub, "verify"))
        return cmd_verify(argc - 1, argv + 1);
    fprintf(stderr, "semiseg data: unknown subcommand '%s'\n", sub);
    usage(stderr);
    return 2;
}
