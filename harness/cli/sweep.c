/* `semiseg sweep SPEC`: runs the missing cells of a table spec as
 * `semiseg train` child processes (this executable, N at a time), skipping
 * finished runs and resuming interrupted ones; or writes an sbatch array
 * script (--emit slurm), or lists the commands (--dry-run). */
#define _DEFAULT_SOURCE
#include "kernels/error.h"
#include "reports/plan.h"
#include "reports/results.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: semiseg sweep SPEC [--profile P] [--data real|synthetic] [--runs DIR]\n"
               "                    [--data-root DIR] [--data-root-KEY DIR ...] [--jobs N]\n"
               "                    [--emit slurm] [--out FILE] [--dry-run]\n"
               "                    [--methods A,B] [--datasets A,B] [--ratios 10,20]\n\n"
               "Runs every cell of the table spec SPEC (e.g. reports/tables/table1.ini) that has\n"
               "no finished run: `semiseg train` per cell and seed into\n"
               "RUNS/<dataset>/<method>/<labeled>/seed<K>/. Finished runs (best/ and last/\n"
               "summaries) are skipped, interrupted ones (a checkpoint, no summaries) resumed.\n"
               "Cells whose plugin is not registered, or whose data is missing, are listed with\n"
               "the reason (and how to get the data) and not run. Each child's output goes to\n"
               "RUNS/_sweep/<dataset>-<method>-<labeled>-seed<K>.log.\n\n");
    fputs(ss_plan_opts_help, f);
    fprintf(f, "  --jobs N            training processes at once (default 1); each gets\n"
               "                      OMP_NUM_THREADS = cores / N unless that is set\n"
               "  --emit slurm        write an sbatch array script (one task per run) instead\n"
               "  --out FILE          the script's path (default RUNS/sweep.sbatch)\n"
               "  --dry-run           print the train commands, run nothing\n");
}

static int fail(int code, const char *msg)
{
    fprintf(stderr, "semiseg sweep: %s\n", msg);
    return code;
}

typedef struct task {
    int cell, seed;
    pid_t pid;
    double t0;
    char log[SS_PLAN_PATH + 128];
} task;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void cell_name(const ss_plan_cell *c, int k, char *out, size_t n)
{
    snprintf(out, n, "%s %s %d%% (%d labeled) seed %ld", c->c.method->name, c->c.train_dataset,
             c->c.pct, c->c.labeled, c->c.seeds.v[k]);
}

/* Last non-empty line of a log file. */
static void last_line(const char *path, char *out, size_t n)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0])
            snprintf(out, n, "%s", line);
    }
    fclose(f);
}

static pid_t launch(const ss_plan *p, const ss_plan_cell *c, int k, const char *log, int threads)
{
    char buf[16384], *argv[130];
    argv[0] = "semiseg";
    if (ss_plan_train_args(p, c, k, buf, sizeof buf, argv + 1, 128) < 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        ss_seterr("fork failed: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0666);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        if (threads > 0 && !getenv("OMP_NUM_THREADS")) {
            char t[16];
            snprintf(t, sizeof t, "%d", threads);
            setenv("OMP_NUM_THREADS", t, 1);
        }
        execv("/proc/self/exe", argv);
        fprintf(stderr, "semiseg sweep: cannot run /proc/self/exe: %s\n", strerror(errno));
        _exit(127);
    }
    return pid;
}

int ss_cmd_sweep(int argc, char **argv)
{
    ss_plan_opts po = {.check_data = 1};
    const char *spec_path = NULL, *emit = NULL, *out = NULL;
    long jobs = 1;
    int dry = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = ss_plan_opt(&po, argc, argv, &i);
        if (r < 0)
            return fail(2, semiseg_error());
        if (r)
            continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--dry-run")) {
            dry = 1;
        } else if ((!strcmp(a, "--jobs") || !strcmp(a, "--emit") || !strcmp(a, "--out")) &&
                   i + 1 >= argc) {
            fprintf(stderr, "semiseg sweep: option %s needs a value\n", a);
            return 2;
        } else if (!strcmp(a, "--jobs")) {
            char *e;
            jobs = strtol(argv[++i], &e, 10);
            if (*e || jobs < 1 || jobs > 256) {
                fprintf(stderr, "semiseg sweep: --jobs '%s': want an integer 1..256\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--emit")) {
            emit = argv[++i];
            if (strcmp(emit, "slurm")) {
                fprintf(stderr, "semiseg sweep: --emit '%s': only slurm is supported\n", emit);
                return 2;
            }
        } else if (!strcmp(a, "--out")) {
            out = argv[++i];
        } else if (a[0] == '-' || spec_path) {
            fprintf(stderr, "semiseg sweep: unexpected argument '%s' (see --help)\n", a);
            return 2;
        } else {
            spec_path = a;
        }
    }
    if (!spec_path)
        return fail(2, "a table spec is required (e.g. reports/tables/table1.ini; see --help)");
    ss_table_spec *spec = malloc(sizeof *spec);
    if (!spec)
        return fail(1, "out of memory");
    ss_plan plan;
    if (ss_table_spec_load(spec_path, spec) || ss_plan_build(spec, &po, &plan)) {
        free(spec);
        return fail(2, semiseg_error());
    }
    int code = 0, n_tasks = 0;
    task *tasks = calloc((size_t)(plan.n * SS_TS_MAX_SEEDS + 1), sizeof *tasks);
    if (!tasks) {
        code = fail(1, "out of memory");
        goto done;
    }
    printf("sweep %s: profile %s, %s data, runs under %s\n", spec->name, plan.profile->name,
           plan.data_kind, plan.runs);
    for (int i = 0; i < plan.n; i++) {
        const ss_plan_cell *c = &plan.cells[i];
        char nm[256];
        if (!c->implemented) {
            printf("  %-12s %-16s %3d%%: not implemented (no plugin '%s' in this build)\n",
                   c->c.method->name, c->c.train_dataset, c->c.pct, c->c.method->name);
            continue;
        }
        if (!c->have_data) {
            printf("  %-12s %-16s %3d%%: %s\n", c->c.method->name, c->c.train_dataset, c->c.pct,
                   c->data_msg);
            continue;
        }
        for (int k = 0; k < c->c.seeds.n; k++) {
            cell_name(c, k, nm, sizeof nm);
            if (c->state[k] == SS_RUN_DONE) {
                printf("  skip (finished): %s\n", nm);
                continue;
            }
            tasks[n_tasks].cell = i;
            tasks[n_tasks].seed = k;
            snprintf(tasks[n_tasks].log, sizeof tasks[n_tasks].log,
                     "%s/_sweep/%s-%s-%d-seed%ld.log", plan.runs, c->c.train_dataset,
                     c->c.method->name, c->c.labeled, c->c.seeds.v[k]);
            n_tasks++;
        }
    }
    if (dry) {
        for (int t = 0; t < n_tasks; t++) {
            char buf[16384], *av[130], q[8192];
            const ss_plan_cell *c = &plan.cells[tasks[t].cell];
            int n = ss_plan_train_args(&plan, c, tasks[t].seed, buf, sizeof buf, av, 128);
            if (n < 0) {
                code = fail(1, semiseg_error());
                goto done;
            }
            printf("%s semiseg", c->state[tasks[t].seed] == SS_RUN_PARTIAL ? "resume:" : "run:   ");
            for (int a = 0; a < n; a++) {
                ss_shell_quote(av[a], q, sizeof q);
                printf(" %s", q);
            }
            printf("\n");
        }
        printf("sweep: %d run(s) to do (dry run)\n", n_tasks);
        goto done;
    }
    char dir[SS_PLAN_PATH + 16];
    snprintf(dir, sizeof dir, "%s/_sweep", plan.runs);
    if (ss_mkdirs(dir) || ss_plan_make_twins(&plan, stdout)) {
        code = fail(1, semiseg_error());
        goto done;
    }
    if (emit) {
        char exe[SS_PLAN_PATH], path[SS_PLAN_PATH + 32], tmp[SS_PLAN_PATH + 64];
        ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[l > 0 ? l : 0] = '\0';
        char *text;
        int nt;
        if (ss_plan_slurm(&plan, exe, jobs > 1 ? (int)jobs : 0,
                          &text, &nt)) {
            code = fail(1, semiseg_error());
            goto done;
        }
        if (nt == 0) {
            free(text);
            printf("sweep: every run is finished or cannot run; no script written\n");
            goto done;
        }
        snprintf(path, sizeof path, "%s", out ? out : "");
        if (!out)
            snprintf(path, sizeof path, "%s/sweep.sbatch", plan.runs);
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *f = fopen(tmp, "w");
        int ok = f && fputs(text, f) >= 0;
        ok = f && fclose(f) == 0 && ok;
        free(text);
        if (!ok || rename(tmp, path) != 0) {
            remove(tmp);
            fprintf(stderr, "semiseg sweep: cannot write %s\n", path);
            code = 1;
            goto done;
        }
        printf("sweep: wrote %s (%d array task(s)); submit it with: sbatch %s\n", path, nt, path);
        goto done;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = jobs > 1 ? (int)(ncpu / jobs > 0 ? ncpu / jobs : 1) : 0;
    int next = 0, running = 0, done_n = 0, failed = 0;
    while (next < n_tasks || running > 0) {
        while (running < jobs && next < n_tasks) {
            task *t = &tasks[next++];
            const ss_plan_cell *c = &plan.cells[t->cell];
            char nm[256];
            cell_name(c, t->seed, nm, sizeof nm);
            t->t0 = now_s();
            t->pid = launch(&plan, c, t->seed, t->log, threads);
            if (t->pid < 0) {
                printf("[%d/%d] FAILED to start %s: %s\n", next, n_tasks, nm, semiseg_error());
                failed++;
                done_n++;
                continue;
            }
            printf("[%d/%d] %s %s (log %s)\n", next, n_tasks,
                   c->state[t->seed] == SS_RUN_PARTIAL ? "resume" : "start ", nm, t->log);
            fflush(stdout);
            running++;
        }
        if (!running)
            break;
        int st;
        pid_t pid = wait(&st);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int k = 0; k < next; k++) {
            task *t = &tasks[k];
            if (t->pid != pid)
                continue;
            t->pid = 0;
            running--;
            done_n++;
            const ss_plan_cell *c = &plan.cells[t->cell];
            char nm[256];
            cell_name(c, t->seed, nm, sizeof nm);
            double secs = now_s() - t->t0;
            if (WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
                ss_run_state_of(c->run_dir[t->seed]) == SS_RUN_DONE) {
                const char dice[1][16] = {"dice"};
                double vb = 0, vl = 0;
                char pb[SS_PLAN_PATH + 32], pl[SS_PLAN_PATH + 32];
                snprintf(pb, sizeof pb, "%s/best/summary.json", c->run_dir[t->seed]);
                snprintf(pl, sizeof pl, "%s/last/summary.json", c->run_dir[t->seed]);
                if (ss_summary_read(pb, dice, 1, &vb) || ss_summary_read(pl, dice, 1, &vl))
                    printf("[%d/%d] done   %s in %.0f s (summary unreadable: %s)\n", done_n,
                           n_tasks, nm, secs, semiseg_error());
                else
                    printf("[%d/%d] done   %s in %.0f s: test Dice best %.2f, last %.2f\n",
                           done_n, n_tasks, nm, secs, vb, vl);
            } else {
                char ll[1024];
                last_line(t->log, ll, sizeof ll);
                printf("[%d/%d] FAILED %s after %.0f s (%s %d): %s\n", done_n, n_tasks, nm, secs,
                       WIFEXITED(st) ? "exit" : "signal",
                       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), ll);
                failed++;
            }
            fflush(stdout);
        }
    }
    printf("sweep: %d run(s) finished, %d failed\n", n_tasks - failed, failed);
    if (failed)
        code = 1;
done:
    free(tasks);
    ss_plan_free(&plan);
    free(spec);
    return code;
}
