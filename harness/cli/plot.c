/* `semiseg plot`: training curves of a run and Dice vs labeled ratio of a
 * table (data files driven through the gnuplot scripts in reports/plots/),
 * and the qualitative overlay PNG of one slice (libpng). */
#define _DEFAULT_SOURCE
#include "harness/fileio.h"
#include "kernels/error.h"
#include "reports/plotdata.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: semiseg plot curves RUN_DIR OUT.png\n"
            "       semiseg plot ratio SPEC OUT.png [--dataset KEY] [--metric dice|asd|...]\n"
            "                          [table options: --profile, --data, --runs, ...]\n"
            "       semiseg plot overlay --image CASE.h5 --pred PRED.h5 --slice K|auto\n"
            "                            [--layout auto|dhw|xyz] [--scale N] OUT.png\n\n"
            "curves   loss terms per logged iteration and the selection Dice from RUN_DIR/\n"
            "         train.log (data file OUT.dat beside the PNG; reports/plots/curves.gp)\n"
            "ratio    mean (± std over seeds) per method against the labeled %% with the\n"
            "         published values dashed (OUT.dat; reports/plots/ratio.gp); without\n"
            "         --dataset one PNG per dataset column, OUT-<key>.png\n"
            "overlay  slice K (along D) of a case: ground-truth boundary red, prediction\n"
            "         boundary green, both yellow, on the grey image (`semiseg eval\n"
            "         --save-pred` writes predictions); --slice auto takes the slice with\n"
            "         the most ground-truth foreground; --scale N enlarges each pixel\n\n"
            "Options:\n"
            "  --scripts DIR   folder of the gnuplot scripts (default: reports/plots beside\n"
            "                  the build folder, or $SEMISEG_PLOTS)\n");
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int find_script(const char *dir, const char *name, char *out, size_t n)
{
    char exe[4096];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[l > 0 ? l : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    const char *env = getenv("SEMISEG_PLOTS");
    const char *cands[4] = {dir, env, NULL, "reports/plots"};
    char beside[4200];
    snprintf(beside, sizeof beside, "%s/../reports/plots", exe);
    cands[2] = beside;
    for (int i = 0; i < 4; i++) {
        if (!cands[i])
            continue;
        snprintf(out, n, "%s/%s", cands[i], name);
        if (is_file(out))
            return SS_OK;
        if (i == 0)
            return ss_seterr("--scripts %s has no %s", dir, name);
    }
    return ss_seterr("cannot find the gnuplot script %s (looked in $SEMISEG_PLOTS, %s and "
                     "reports/plots; see --scripts)", name, beside);
}

/* gnuplot -c SCRIPT DATA OUT.tmp.png [EXTRA...], then OUT.tmp.png -> OUT. */
static int run_gnuplot(const char *script, const char *data, const char *out, const char *a3,
                       const char *a4)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.png", out);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return ss_seterr("fork failed: %s", strerror(errno));
    char glog[4300];
    snprintf(glog, sizeof glog, "%s.gnuplot.log", out);
    if (pid == 0) {
        int fd = open(glog, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        const char *argv[] = {"gnuplot", "-c", script, data, tmp, a3, a4, NULL};
        execvp("gnuplot", (char *const *)argv);
        fprintf(stderr, "semiseg plot: cannot run gnuplot: %s (install it: apt-get install "
                        "gnuplot-nox)\n", strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return ss_seterr("waitpid failed: %s", strerror(errno));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !is_file(tmp)) {
        remove(tmp);
        return ss_seterr("gnuplot failed on %s with %s (exit %d; its messages: %s)", data, script,
                         WIFEXITED(st) ? WEXITSTATUS(st) : -1, glog);
    }
    remove(glog); /* warnings of a successful run (e.g. blocks without points) */
    if (rename(tmp, out) != 0) {
        remove(tmp);
        return ss_seterr("cannot write %s", out);
    }
    return SS_OK;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ss_seterr("cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n - 1, f);
        if (n + 1 < cap)
            break;
        char *nb = realloc(b, cap *= 2);
        if (!nb)
            free(b);
        b = nb;
    }
    fclose(f);
    if (!b) {
        ss_seterr("out of memory reading %s", path);
        return NULL;
    }
    b[n] = '\0';
    return b;
}

static void data_path(const char *png, char *out, size_t n)
{
    snprintf(out, n, "%s", png);
    size_t l = strlen(out);
    if (l > 4 && !strcmp(out + l - 4, ".png"))
        out[l - 4] = '\0';
    l = strlen(out);
    snprintf(out + l, n - l, ".dat");
}

static int plot_curves(const char *scripts, const char *run, const char *png)
{
    char logp[4200], script[4200], dat[4200];
    snprintf(logp, sizeof logp, "%s/train.log", run);
    char *text = read_file(logp);
    if (!text)
        return SS_ERR;
    char *d;
    int n_eval;
    int rc = ss_curves_data(text, logp, &d, &n_eval);
    free(text);
    if (rc)
        return SS_ERR;
    data_path(png, dat, sizeof dat);
    rc = ss_write_text_atomic(dat, d);
    free(d);
    if (rc || find_script(scripts, "curves.gp", script, sizeof script) ||
        run_gnuplot(script, dat, png, n_eval ? NULL : "noeval", NULL))
        return SS_ERR;
    printf("plot: wrote %s (data %s, %d evaluations)\n", png, dat, n_eval);
    return SS_OK;
}

static int plot_ratio(const char *scripts, const char *spec_path, const char *png,
                      const ss_plan_opts *po, const char *dataset, const char *metric)
{
    ss_table_spec *spec = malloc(sizeof *spec);
    ss_plan plan;
    memset(&plan, 0, sizeof plan);
    ss_paper paper = {0};
    ss_cell_result *res = NULL;
    int rc = SS_ERR, m = -1;
    if (!spec) {
        ss_seterr("out of memory");
        goto out;
    }
    if (ss_table_spec_load(spec_path, spec) || ss_plan_build(spec, po, &plan))
        goto out;
    for (int k = 0; k < spec->n_metrics; k++)
        if (!strcmp(spec->metrics[k], metric))
            m = k;
    if (m < 0) {
        ss_seterr("--metric %s is not among the spec's metrics", metric);
        goto out;
    }
    if (spec->paper[0] && ss_paper_load(spec->paper, spec->metrics, spec->n_metrics, &paper))
        goto out;
    res = calloc((size_t)(plan.n ? plan.n : 1), sizeof *res);
    if (!res || ss_collect(&plan, &paper, res))
        goto out;
    char script[4200];
    if (find_script(scripts, "ratio.gp", script, sizeof script))
        goto out;
    int found = 0;
    for (int col = 0; col < spec->n_datasets; col++) {
        const ss_ts_dataset *d = &spec->datasets[col];
        if (dataset && strcmp(dataset, d->key))
            continue;
        int present = 0;
        for (int i = 0; i < plan.n; i++)
            present |= plan.cells[i].c.col == col;
        if (!present)
            continue;
        found++;
        char out[4200], dat[4200], title[512], *text;
        int npts;
        snprintf(out, sizeof out, "%s", png);
        if (!dataset) { /* OUT-<key>.png */
            size_t l = strlen(out);
            if (l > 4 && !strcmp(out + l - 4, ".png"))
                out[l - 4] = '\0';
            l = strlen(out);
            snprintf(out + l, sizeof out - l, "-%s.png", d->key);
        }
        data_path(out, dat, sizeof dat);
        if (ss_ratio_data(&plan, res, col, m, &text, &npts)) {
            if (dataset)
                goto out;
            printf("plot: %s: %s; no plot\n", d->key, semiseg_error());
            found--;
            continue;
        }
        int w = ss_write_text_atomic(dat, text);
        free(text);
        if (w)
            goto out;
        snprintf(title, sizeof title, "%s (%s): %s vs labeled ratio, profile %s, %s data (dashed: paper)",
                 d->label, plan.cells[0].c.synthetic ? "synthetic twin" : "real", metric,
                 plan.profile->name, plan.data_kind);
        if (run_gnuplot(script, dat, out, title, NULL))
            goto out;
        printf("plot: wrote %s (%d finished points)\n", out, npts);
    }
    if (!found) {
        ss_seterr("nothing to plot: no finished run %s%s", dataset ? "in dataset column " : "",
                  dataset ? dataset : "in any dataset column");
        goto out;
    }
    rc = SS_OK;
out:
    free(res);
    ss_paper_free(&paper);
    ss_plan_free(&plan);
    free(spec);
    return rc;
}

int ss_cmd_plot(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *what = argv[1];
    const char *pos[2] = {NULL, NULL}, *scripts = NULL, *image = NULL, *pred = NULL;
    const char *dataset = NULL, *metric = "dice", *layout_s = "auto";
    long slice = -1, scale = 1;
    int npos = 0, slice_set = 0;
    ss_plan_opts po = {.check_data = 1};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(what, "ratio")) {
            int r = ss_plan_opt(&po, argc, argv, &i);
            if (r < 0) {
                fprintf(stderr, "semiseg plot: %s\n", semiseg_error());
                return 2;
            }
            if (r)
                continue;
        }
        if (!strcmp(a, "--slice") && i + 1 < argc && !strcmp(argv[i + 1], "auto")) {
            slice = -1;
            slice_set = 1;
            i++;
            continue;
        }
        const char **dst = !strcmp(a, "--scripts")   ? &scripts
                           : !strcmp(a, "--image")   ? &image
                           : !strcmp(a, "--pred")    ? &pred
                           : !strcmp(a, "--dataset") ? &dataset
                           : !strcmp(a, "--metric")  ? &metric
                           : !strcmp(a, "--layout")  ? &layout_s
                                                     : NULL;
        int num = !strcmp(a, "--slice") || !strcmp(a, "--scale");
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if ((dst || num) && i + 1 >= argc) {
            fprintf(stderr, "semiseg plot: option %s needs a value\n", a);
            return 2;
        }
        if (dst) {
            *dst = argv[++i];
        } else if (num) {
            char *e;
            long v = strtol(argv[++i], &e, 10);
            if (*e || v < 0 || (a[3] == 'c' && (v < 1 || v > 64))) {
                fprintf(stderr, "semiseg plot: %s '%s' is not a valid integer\n", a, argv[i]);
                return 2;
            }
            *(a[3] == 'l' ? &slice : &scale) = v;
            slice_set |= a[3] == 'l';
        } else if (a[0] == '-' || npos == 2) {
            fprintf(stderr, "semiseg plot: unexpected argument '%s' (see --help)\n", a);
            return 2;
        } else {
            pos[npos++] = a;
        }
    }
    int rc;
    if (!strcmp(what, "curves")) {
        if (npos != 2) {
            fprintf(stderr, "semiseg plot curves: want RUN_DIR OUT.png\n");
            return 2;
        }
        rc = plot_curves(scripts, pos[0], pos[1]);
    } else if (!strcmp(what, "ratio")) {
        if (npos != 2) {
            fprintf(stderr, "semiseg plot ratio: want SPEC OUT.png\n");
            return 2;
        }
        rc = plot_ratio(scripts, pos[0], pos[1], &po, dataset, metric);
    } else if (!strcmp(what, "overlay")) {
        ss_layout lay = !strcmp(layout_s, "dhw") ? SS_LAYOUT_DHW
                        : !strcmp(layout_s, "xyz") ? SS_LAYOUT_XYZ
                                                   : SS_LAYOUT_AUTO;
        if (!image || !pred || !slice_set || npos != 1) {
            fprintf(stderr, "semiseg plot overlay: want --image CASE.h5 --pred PRED.h5 --slice "
                            "K|auto OUT.png\n");
            return 2;
        }
        if (strcmp(layout_s, "auto") && strcmp(layout_s, "dhw") && strcmp(layout_s, "xyz")) {
            fprintf(stderr, "semiseg plot overlay: --layout '%s': want auto, dhw or xyz\n",
                    layout_s);
            return 2;
        }
        int used = -1;
        rc = ss_overlay_from_h5(image, pred, (int)slice, lay, (int)scale, pos[0], &used);
        if (!rc)
            printf("plot: wrote %s (slice %d)\n", pos[0], used);
    } else {
        fprintf(stderr, "semiseg plot: unknown plot '%s' (curves, ratio, overlay)\n", what);
        return 2;
    }
    if (rc) {
        fprintf(stderr, "semiseg plot %s: %s\n", what, semiseg_error());
        return 1;
    }
    return 0;
}
