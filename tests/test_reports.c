/* The reports layer: table specs (parsing, unknown keys, cells and run
 * directories), run states and the sweep's train arguments, table rendering
 * from fake summary.json files (mean ± std over two seeds, difference vs the
 * paper, cells without run / data / plugin), LaTeX escaping, the sbatch
 * script (executed by bash with a stand-in binary), training-curve data and
 * the overlay PNG read back with libpng. */
#include "ds_testutil.h"
#include "kernels/error.h"
#include "reports/plotdata.h"
#include "reports/render.h"

#include "harness/evaluate.h"

#include <check.h>
#include <hdf5.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static void mkdirs(const char *p)
{
    ck_assert_msg(ss_mkdirs(p) == SS_OK, "%s", semiseg_error());
}

static const ss_table_cell *find_cell(const ss_table_cell *c, int n, const char *method,
                                      const char *ds, int pct)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(c[i].method->name, method) && !strcmp(c[i].dataset->key, ds) &&
            c[i].pct == pct)
            return &c[i];
    return NULL;
}

/* ---- the shipped Table-1 spec ------------------------------------------------ */
START_TEST(table1_spec)
{
    ss_table_spec *s = malloc(sizeof *s);
    ck_assert_msg(ss_table_spec_load("reports/tables/table1.ini", s) == SS_OK, "%s",
                  semiseg_error());
    ck_assert_int_eq(s->n_methods, 8);
    ck_assert_int_eq(s->n_datasets, 3);
    ck_assert_str_eq(s->methods[0].name, "supervised");
    ck_assert_str_eq(s->methods[7].name, "fbanet");
    ck_assert_str_eq(s->methods[7].checkpoint, "best");
    ck_assert_str_eq(s->methods[0].checkpoint, "last");
    ck_assert_int_eq(s->n_metrics, 2);
    ck_assert_str_eq(s->metrics[0], "dice");
    ck_assert_str_eq(s->metrics[1], "asd");
    ss_table_cell *c;
    int n;
    ck_assert_msg(ss_table_cells(s, "paper", NULL, &c, &n) == SS_OK, "%s", semiseg_error());
    /* rows: supervised 100 + 8 methods x {10, 20} = 17, x 3 datasets */
    ck_assert_int_eq(n, 17 * 3);
    const int want[3][3] = {{8, 16, 80}, {6, 12, 62}, {7, 14, 70}};
    const char *ds[3] = {"la", "pancreas", "acdc"};
    const int pct[3] = {10, 20, 100};
    for (int d = 0; d < 3; d++)
        for (int p = 0; p < 3; p++) {
            const ss_table_cell *x = find_cell(c, n, "supervised", ds[d], pct[p]);
            ck_assert_ptr_nonnull(x);
            ck_assert_int_eq(x->labeled, want[d][p]);
            ck_assert_str_eq(x->train_dataset, ds[d]);
            ck_assert(!x->synthetic);
        }
    ck_assert_ptr_null(find_cell(c, n, "fbanet", "la", 100)); /* only supervised at 100 % */
    const ss_table_cell *f = find_cell(c, n, "fbanet", "acdc", 20);
    ck_assert_int_eq(f->labeled, 14);
    ck_assert_int_eq(f->seeds.n, 1);
    ck_assert_int_eq((int)f->seeds.v[0], 1337);
    char dir[512];
    ss_table_run_dir(f, "runs/t", 1337, dir, sizeof dir);
    ck_assert_str_eq(dir, "runs/t/acdc/fbanet/14/seed1337");
    free(c);
    /* smoke: the synthetic twins with labeled counts that fit them */
    ck_assert_msg(ss_table_cells(s, "smoke", NULL, &c, &n) == SS_OK, "%s", semiseg_error());
    f = find_cell(c, n, "fbanet", "la", 10);
    ck_assert_str_eq(f->train_dataset, "synth-la");
    ck_assert_int_eq(f->labeled, 2);
    ck_assert(f->synthetic);
    ss_table_run_dir(f, "R", 1337, dir, sizeof dir);
    ck_assert_str_eq(dir, "R/synth-la/fbanet/2/seed1337");
    ck_assert_int_eq(find_cell(c, n, "supervised", "acdc", 100)->labeled, 8);
    ck_assert_int_eq(find_cell(c, n, "mcnet_plus", "pancreas", 20)->labeled, 3);
    ck_assert_str_eq(find_cell(c, n, "mcnet_plus", "pancreas", 20)->train_dataset,
                     "synth-pancreas");
    free(c);
    /* the smoke profile on real data keeps the real names and counts */
    ck_assert_msg(ss_table_cells(s, "smoke", "real", &c, &n) == SS_OK, "%s", semiseg_error());
    ck_assert_str_eq(find_cell(c, n, "fbanet", "la", 10)->train_dataset, "la");
    ck_assert_int_eq(find_cell(c, n, "fbanet", "la", 10)->labeled, 8);
    free(c);
    /* the mini profile: real subsets with counts that fit them, its own folders */
    ck_assert_msg(ss_table_cells(s, "mini", NULL, &c, &n) == SS_OK, "%s", semiseg_error());
    ck_assert_int_eq(find_cell(c, n, "fbanet", "la", 10)->labeled, 4);
    ck_assert_int_eq(find_cell(c, n, "supervised", "acdc", 100)->labeled, 5);
    ck_assert_int_eq(find_cell(c, n, "fbanet", "pancreas", 10)->labeled, 6); /* no override */
    free(c);
    ss_plan_opts o = {.profile = "mini", .runs = "R", .only_datasets = "la"};
    ss_plan plan;
    ck_assert_msg(ss_plan_build(s, &o, &plan) == SS_OK, "%s", semiseg_error());
    ck_assert_str_eq(plan.cells[0].data_root, "../shared/data/LA-mini");
    ss_plan_free(&plan);
    ck_assert_int_eq(ss_table_cells(s, "nosuch", NULL, &c, &n), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "no [profile nosuch]"));
    free(s);
}
END_TEST

static const char MINI[] = "[table]\n"                               /* 1 */
                           "name = mini\n"                           /* 2 */
                           "datasets = la, acdc\n"                   /* 3 */
                           "methods = supervised, nosuch\n"          /* 4 */
                           "seeds = 1, 2\n"                          /* 5 */
                           "note = first part\n"                     /* 6 */
                           "  and its continuation\n"                /* 7 */
                           "note = second note\n"                    /* 8 */
                           "[dataset la]\n"                          /* 9 */
                           "label = LA\nname = la\nroot = LA\n"      /* 10-12 */
                           "labeled = 10:8, 20:16\n"                 /* 13 */
                           "get = stage it\n"                        /* 14 */
                           "[dataset acdc]\n"                        /* 15 */
                           "label = ACDC\nname = acdc\nroot = ACDC\n"/* 16-18 */
                           "labeled = 10:7, 20:14\n"                 /* 19 */
                           "get = stage acdc\n"                      /* 20 */
                           "[method supervised]\n"                   /* 21 */
                           "label = Sup_x\nratios = 10, 20\n"        /* 22-23 */
                           "checkpoint = last\n"                     /* 24 */
                           "set = train.iterations=5\n"              /* 25 */
                           "[method nosuch]\n"                       /* 26 */
                           "ratios = 10\n"                           /* 27 */
                           "[profile p]\n"                           /* 28 */
                           "data = real\n"                           /* 29 */
                           "[profile s]\n"                           /* 30 */
                           "data = synthetic\n"                      /* 31 */
                           "synthetic.la = synth-la\n"               /* 32 */
                           "synthetic_labeled.la = 10:2, 20:4\n"     /* 33 */
                           "synthetic.acdc = synth-acdc\n"           /* 34 */
                           "synthetic_labeled.acdc = 10:1, 20:2\n";  /* 35 */

START_TEST(spec_parse_and_errors)
{
    ss_table_spec *s = malloc(sizeof *s);
    ck_assert_msg(ss_table_spec_parse(MINI, "mini.ini", s) == SS_OK, "%s", semiseg_error());
    ck_assert_int_eq(s->notes.n, 2);
    ck_assert_str_eq(s->notes.v[0], "first part and its continuation");
    ck_assert_str_eq(s->notes.v[1], "second note");
    ck_assert_str_eq(s->checkpoint, "best"); /* default */
    ck_assert_int_eq(s->methods[0].sets.n, 1);
    ck_assert_str_eq(s->methods[0].sets.v[0], "train.iterations=5");
    ck_assert_int_eq(s->seeds.n, 2);

    /* an unknown key: error with file, line and key */
    char *bad = malloc(sizeof MINI + 64);
    snprintf(bad, sizeof MINI + 64, "%s", MINI);
    char *at = strstr(bad, "checkpoint = last");
    memcpy(at, "chekpoint ", 10);
    ck_assert_int_eq(ss_table_spec_parse(bad, "bad.ini", s), SS_ERR);
    ck_assert_msg(strstr(semiseg_error(), "bad.ini:24:") != NULL, "%s", semiseg_error());
    ck_assert_msg(strstr(semiseg_error(), "unknown key 'chekpoint'") != NULL, "%s",
                  semiseg_error());
    /* unknown section */
    snprintf(bad, sizeof MINI + 64, "%s[tabel]\nx = 1\n", MINI);
    ck_assert_int_eq(ss_table_spec_parse(bad, "bad.ini", s), SS_ERR);
    ck_assert_msg(strstr(semiseg_error(), "bad.ini:37: unknown section [tabel]") != NULL, "%s",
                  semiseg_error());
    /* a method section for a method the table does not list */
    snprintf(bad, sizeof MINI + 64, "%s[method other]\nratios = 10\n", MINI);
    ck_assert_int_eq(ss_table_spec_parse(bad, "bad.ini", s), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "[method other]: not listed"));
    /* a labeled count missing for a ratio a method needs */
    snprintf(bad, sizeof MINI + 64, "%s", MINI);
    at = strstr(bad, "labeled = 10:7, 20:14");
    memcpy(at, "labeled = 10:7, 30:14", 21);
    ck_assert_int_eq(ss_table_spec_parse(bad, "bad.ini", s), SS_ERR);
    ck_assert_msg(strstr(semiseg_error(), "no labeled count for 20 %") != NULL, "%s",
                  semiseg_error());
    /* bad values */
    snprintf(bad, sizeof MINI + 64, "%s", MINI);
    at = strstr(bad, "checkpoint = last");
    memcpy(at, "checkpoint = lest", 17);
    ck_assert_int_eq(ss_table_spec_parse(bad, "bad.ini", s), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "neither best nor last"));
    /* too long a line */
    char *longl = malloc(400);
    snprintf(longl, 400, "[table]\nname = %0250d\n", 0);
    ck_assert_int_eq(ss_table_spec_parse(longl, "long.ini", s), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "long.ini:2: line longer"));
    free(longl);
    free(bad);
    free(s);
}
END_TEST

/* ---- run states, train arguments, slurm ------------------------------------------ */
static void fake_summary(const char *run, const char *tag, double dice, double asd)
{
    char p[1024], t[512];
    snprintf(p, sizeof p, "%s/%s", run, tag);
    mkdirs(p);
    snprintf(p, sizeof p, "%s/%s/summary.json", run, tag);
    snprintf(t, sizeof t,
             "{\"tag\": \"%s\", \"classes\": [{\"class\": 1, \"mean\": {\"dice\": %.6f, "
             "\"asd\": %.6f}, \"std\": {\"dice\": 0, \"asd\": 0}}]}\n",
             tag, dice, asd);
    write_file(p, t);
}

static void fake_done(const char *run, double dice_best, double asd_best, double dice_last,
                      double asd_last)
{
    fake_summary(run, "best", dice_best, asd_best);
    fake_summary(run, "last", dice_last, asd_last);
}

START_TEST(run_states_and_args)
{
    char tmp[256], run[512], p[600];
    ck_assert_int_eq(dtu_tmpdir("ss_rep_", tmp, sizeof tmp), 0);
    snprintf(run, sizeof run, "%s/r", tmp);
    ck_assert_int_eq(ss_run_state_of(run), SS_RUN_NONE);
    mkdirs(run);
    ck_assert_int_eq(ss_run_state_of(run), SS_RUN_NONE); /* a directory alone: start afresh */
    snprintf(p, sizeof p, "%s/checkpoints", run);
    mkdirs(p);
    snprintf(p, sizeof p, "%s/checkpoints/last.h5", run);
    write_file(p, "x");
    ck_assert_int_eq(ss_run_state_of(run), SS_RUN_PARTIAL);
    fake_summary(run, "best", 0.5, 1);
    ck_assert_int_eq(ss_run_state_of(run), SS_RUN_PARTIAL); /* last/ still missing */
    fake_summary(run, "last", 0.5, 1);
    ck_assert_int_eq(ss_run_state_of(run), SS_RUN_DONE);

    /* a plan over MINI: seed 1 of supervised/la/10 partial, seed 2 done */
    ss_table_spec *s = malloc(sizeof *s);
    ck_assert(ss_table_spec_parse(MINI, "mini.ini", s) == SS_OK);
    char runs[512], laroot[512];
    snprintf(runs, sizeof runs, "%s/runs", tmp);
    snprintf(laroot, sizeof laroot, "%s/data/LA", tmp);
    mkdirs(laroot);
    snprintf(p, sizeof p, "%s/la/supervised/8/seed1/checkpoints", runs);
    mkdirs(p);
    snprintf(p, sizeof p, "%s/la/supervised/8/seed1/checkpoints/last.h5", runs);
    write_file(p, "x");
    snprintf(p, sizeof p, "%s/la/supervised/8/seed2", runs);
    fake_done(p, 0.9, 1, 0.9, 1);
    char dataroot[512];
    snprintf(dataroot, sizeof dataroot, "%s/data", tmp);
    ss_plan_opts o = {.profile = "p", .runs = runs, .data_root = dataroot, .only_ratios = "10"};
    ss_plan plan;
    ck_assert_msg(ss_plan_build(s, &o, &plan) == SS_OK, "%s", semiseg_error());
    ck_assert_int_eq(plan.n, 4); /* {supervised, nosuch} x {la, acdc} at 10 % */
    const ss_plan_cell *la = NULL, *acdc = NULL, *ns = NULL;
    for (int i = 0; i < plan.n; i++) {
        const ss_plan_cell *c = &plan.cells[i];
        if (!strcmp(c->c.method->name, "supervised") && !strcmp(c->c.dataset->key, "la"))
            la = c;
        if (!strcmp(c->c.method->name, "supervised") && !strcmp(c->c.dataset->key, "acdc"))
            acdc = c;
        if (!strcmp(c->c.method->name, "nosuch"))
            ns = c;
    }
    ck_assert(la && acdc && ns);
    ck_assert(la->implemented && la->have_data);
    ck_assert(!ns->implemented);
    ck_assert(!acdc->have_data);
    ck_assert_msg(strstr(acdc->data_msg, "not found at") && strstr(acdc->data_msg, "stage acdc"),
                  "%s", acdc->data_msg);
    ck_assert_int_eq(la->state[0], SS_RUN_PARTIAL);
    ck_assert_int_eq(la->state[1], SS_RUN_DONE);

    char buf[8192], *av[128];
    int n = ss_plan_train_args(&plan, la, 0, buf, sizeof buf, av, 128);
    ck_assert_int_eq(n, 5);
    ck_assert_str_eq(av[0], "train");
    ck_assert_str_eq(av[1], "--resume");
    ck_assert_str_eq(av[2], la->run_dir[0]);
    /* a fresh start of seed 2 (were it not done) */
    ss_plan_cell fresh = *la;
    fresh.state[1] = SS_RUN_NONE;
    n = ss_plan_train_args(&plan, &fresh, 1, buf, sizeof buf, av, 128);
    const char *want[] = {"train", "--method", "supervised", "--dataset", "la", "--labeled", "8",
                          "--seed", "2", "--profile", "p", "--data-root", laroot, "--runs", runs,
                          "--set", "train.iterations=5", "--progress", "lines"};
    ck_assert_int_eq(n, (int)(sizeof want / sizeof want[0]));
    for (int i = 0; i < n; i++)
        ck_assert_str_eq(av[i], want[i]);
    ck_assert_ptr_null(av[n]);

    /* the sbatch script: one task (the partial run); executed by bash with a
     * stand-in binary it prints the task's arguments */
    char *script;
    int nt;
    ck_assert(ss_plan_slurm(&plan, "/usr/bin/semiseg", 3, &script, &nt) == SS_OK);
    ck_assert_int_eq(nt, 1);
    ck_assert_msg(strstr(script, "#SBATCH --array=0-0%3\n") != NULL, "%s", script);
    ck_assert_ptr_nonnull(strstr(script, "#!/bin/bash\n"));
    ck_assert_ptr_nonnull(strstr(script, "#SBATCH --job-name=mini-p\n"));
    ck_assert_ptr_null(strstr(script, "seed2")); /* finished runs are not in it */
    ck_assert_ptr_null(strstr(script, "acdc")); /* nor cells without data */
    ck_assert_ptr_null(strstr(script, "nosuch"));
    char sp[600], cmd[1400];
    snprintf(sp, sizeof sp, "%s/sweep.sbatch", tmp);
    write_file(sp, script);
    free(script);
    snprintf(cmd, sizeof cmd, "SLURM_ARRAY_TASK_ID=0 SEMISEG=echo bash %s", sp);
    FILE *pp = popen(cmd, "r");
    ck_assert_ptr_nonnull(pp);
    char line[2048] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof line, pp));
    ck_assert_int_eq(pclose(pp), 0);
    char expect[4200];
    snprintf(expect, sizeof expect, "train --resume %s --progress lines\n", la->run_dir[0]);
    ck_assert_str_eq(line, expect);
    ss_plan_free(&plan);

    /* filters must name table entries */
    ss_plan_opts bad = {.profile = "p", .runs = runs, .only_methods = "supervised,mcnet"};
    ck_assert_int_eq(ss_plan_build(s, &bad, &plan), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "'mcnet' is not in the table"));
    free(s);
    dtu_rm_rf(tmp);
}
END_TEST

START_TEST(shell_quote)
{
    char q[128];
    ss_shell_quote("runs/a-b_1.x", q, sizeof q);
    ck_assert_str_eq(q, "runs/a-b_1.x");
    ss_shell_quote("it's a $x", q, sizeof q);
    ck_assert_str_eq(q, "'it'\\''s a $x'");
    ss_shell_quote("", q, sizeof q);
    ck_assert_str_eq(q, "''");
}
END_TEST

/* ---- table rendering ------------------------------------------------------------- */
START_TEST(table_render)
{
    char tmp[256], runs[512], p[700], paper[600], dataroot[512];
    ck_assert_int_eq(dtu_tmpdir("ss_rep_", tmp, sizeof tmp), 0);
    snprintf(runs, sizeof runs, "%s/runs", tmp);
    snprintf(dataroot, sizeof dataroot, "%s/data", tmp);
    snprintf(p, sizeof p, "%s/LA", dataroot);
    mkdirs(p);
    /* la 10 %: two seeds, Dice 80 / 90 %, ASD 2 / 4 (last checkpoint: supervised) */
    snprintf(p, sizeof p, "%s/la/supervised/8/seed1", runs);
    fake_done(p, 0.11, 9, 0.80, 2);
    snprintf(p, sizeof p, "%s/la/supervised/8/seed2", runs);
    fake_done(p, 0.12, 9, 0.90, 4);
    /* la 20 %: one of two seeds */
    snprintf(p, sizeof p, "%s/la/supervised/16/seed2", runs);
    fake_done(p, 0.5, 9, 0.70, 1.5);
    /* a run of a method whose plugin is not registered is never shown */
    snprintf(p, sizeof p, "%s/la/nosuch/8/seed1", runs);
    fake_done(p, 0.99, 0.1, 0.99, 0.1);
    snprintf(p, sizeof p, "%s/la/nosuch/8/seed2", runs);
    fake_done(p, 0.99, 0.1, 0.99, 0.1);
    snprintf(paper, sizeof paper, "%s/paper.csv", tmp);
    write_file(paper, "# comment\nmethod,label,labeled_pct,dataset,dice,asd,source\n"
                      "supervised,Sup,10,la,88.00,2.50,x\n"
                      "supervised,Sup,20,la,91.00,,x\n"
                      "nosuch,N,10,la,70.00,3.00,x\n");
    ss_table_spec *s = malloc(sizeof *s);
    ck_assert(ss_table_spec_parse(MINI, "mini.ini", s) == SS_OK);
    ck_assert(strlen(paper) < sizeof s->paper);
    memcpy(s->paper, paper, strlen(paper) + 1);
    ss_plan_opts o = {.profile = "p", .runs = runs, .data_root = dataroot};
    ss_plan plan;
    ck_assert_msg(ss_plan_build(s, &o, &plan) == SS_OK, "%s", semiseg_error());
    ss_paper pp;
    ck_assert_msg(ss_paper_load(s->paper, s->metrics, s->n_metrics, &pp) == SS_OK, "%s",
                  semiseg_error());
    ck_assert_int_eq(pp.n, 3);
    ck_assert(isnan(pp.rows[1].v[1]));
    ss_cell_result *r = calloc((size_t)plan.n, sizeof *r);
    ck_assert(ss_collect(&plan, &pp, r) == SS_OK);
    for (int i = 0; i < plan.n; i++) {
        const ss_plan_cell *c = &plan.cells[i];
        if (!strcmp(c->c.method->name, "supervised") && !strcmp(c->c.dataset->key, "la") &&
            c->c.pct == 10) {
            ck_assert_int_eq(r[i].status, SS_CELL_DONE);
            ck_assert_int_eq(r[i].n_done, 2);
            ck_assert(fabs(r[i].mean[0] - 85.0) < 1e-9); /* exact in double */
            ck_assert(fabs(r[i].std[0] - 5.0) < 1e-9);   /* population std of 80, 90 */
            ck_assert(fabs(r[i].mean[1] - 3.0) < 1e-9);
            ck_assert(fabs(r[i].std[1] - 1.0) < 1e-9);
        }
        if (!strcmp(c->c.method->name, "nosuch"))
            ck_assert_int_eq(r[i].status, SS_CELL_NOT_IMPLEMENTED);
        if (!strcmp(c->c.dataset->key, "acdc") && c->implemented)
            ck_assert_int_eq(r[i].status, SS_CELL_NO_DATA);
    }
    char *md;
    ck_assert(ss_render(&plan, r, SS_RENDER_MD, &md) == SS_OK);
    ck_assert_msg(strstr(md, "| Sup_x | 10 % | 85.00 ± 5.00 / 88.00 / -3.00 | "
                             "3.00 ± 1.00 / 2.50 / +0.50 | no data / – / – | no data / – / – |") !=
                      NULL,
                  "%s", md);
    ck_assert_msg(strstr(md, "| Sup_x | 20 % | 70.00 (1/2 seeds) / 91.00 / -21.00 | "
                             "1.50 (1/2 seeds) / – / – |") != NULL,
                  "%s", md);
    ck_assert_msg(strstr(md, "| nosuch | 10 % | not implemented / 70.00 / – | not implemented / "
                             "3.00 / – |") != NULL,
                  "%s", md);
    ck_assert_ptr_null(strstr(md, "99.00")); /* the unregistered method's runs stay out */
    ck_assert_ptr_nonnull(strstr(md, "1. first part and its continuation\n"));
    ck_assert_ptr_nonnull(strstr(md, "Sup_x: --set train.iterations=5 (every cell)."));
    ck_assert_ptr_nonnull(strstr(md, "ACDC: no data: ACDC not found at"));
    ck_assert_ptr_nonnull(strstr(md, "nosuch: no plugin 'nosuch' is registered"));
    ck_assert_ptr_nonnull(strstr(md, "Checkpoint after the last iteration: Sup_x."));
    free(md);

    char *tex;
    ck_assert(ss_render(&plan, r, SS_RENDER_TEX, &tex) == SS_OK);
    ck_assert_msg(strstr(tex, "Sup\\_x & 10\\,\\% & 85.00$\\pm$5.00 / 88.00 / $-3.00$") !=
                      NULL,
                  "%s", tex);
    ck_assert_ptr_nonnull(strstr(tex, "\\begin{tabular}{llcccc}"));
    ck_assert_ptr_nonnull(strstr(tex, "no data / -- / --"));
    free(tex);

    char *csv;
    ck_assert(ss_render(&plan, r, SS_RENDER_CSV, &csv) == SS_OK);
    ck_assert_msg(strstr(csv, "supervised,Sup_x,10,la,la,8,last,dice,done,2,2,85.0000,5.0000,"
                              "88.0000,-3.0000,p,real\n") != NULL,
                  "%s", csv);
    ck_assert_ptr_nonnull(strstr(csv, "supervised,Sup_x,10,acdc,acdc,7,last,asd,no_data,0,2,,,,,"));
    ck_assert_ptr_nonnull(strstr(csv, "nosuch,nosuch,10,la,la,8,best,dice,not_implemented,0,2,,,"
                                      "70.0000,,"));
    free(csv);

    /* all three files */
    char out[600];
    snprintf(out, sizeof out, "%s/out", tmp);
    mkdirs(out);
    ck_assert(ss_render_write_all(&plan, r, out) == SS_OK);
    const char *ext[] = {"md", "tex", "csv"};
    for (int k = 0; k < 3; k++) {
        struct stat st;
        snprintf(p, sizeof p, "%s/mini.%s", out, ext[k]);
        ck_assert_msg(stat(p, &st) == 0 && st.st_size > 100, "%s", p);
    }
    /* ratio plot data: one block per method, rows sorted by pct */
    char *rd;
    int npts;
    ck_assert(ss_ratio_data(&plan, r, 0, 0, &rd, &npts) == SS_OK);
    ck_assert_int_eq(npts, 2);
    ck_assert_msg(strstr(rd, "pct \"Sup_x\" std paper\n10 85.0000 5.0000 88.0000\n"
                             "20 70.0000 0.0000 91.0000\n") != NULL,
                  "%s", rd);
    ck_assert_ptr_null(strstr(rd, "nosuch")); /* no finished cell: not plotted */
    free(rd);
    ck_assert_int_eq(ss_ratio_data(&plan, r, 1, 0, &rd, &npts), SS_ERR); /* acdc: nothing */
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "no finished run in dataset column acdc"));
    free(r);
    ss_paper_free(&pp);
    ss_plan_free(&plan);
    free(s);
    dtu_rm_rf(tmp);
}
END_TEST

START_TEST(summary_read)
{
    char tmp[256], p[512];
    ck_assert_int_eq(dtu_tmpdir("ss_rep_", tmp, sizeof tmp), 0);
    snprintf(p, sizeof p, "%s/s.json", tmp);
    write_file(p, "{\"classes\": [{\"mean\": {\"dice\": 0.5, \"asd\": 1}},"
                  "{\"mean\": {\"dice\": 0.7, \"asd\": null}},"
                  "{\"mean\": {\"dice\": 0.9, \"asd\": 3}}]}");
    const char m[2][16] = {"dice", "asd"};
    double v[2];
    ck_assert(ss_summary_read(p, m, 2, v) == SS_OK);
    ck_assert(fabs(v[0] - 70.0) < 1e-9); /* mean over classes, in % */
    ck_assert(isnan(v[1]));              /* an undefined class value stays undefined */
    write_file(p, "{\"tag\": 1}");
    ck_assert_int_eq(ss_summary_read(p, m, 2, v), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "no 'classes' array"));
    dtu_rm_rf(tmp);
}
END_TEST

START_TEST(latex_escape)
{
    char out[256];
    ss_latex_escape("a_b & 50% #1 $x$ {y} ~^\\", out, sizeof out);
    ck_assert_str_eq(out, "a\\_b \\& 50\\% \\#1 \\$x\\$ \\{y\\} \\textasciitilde{}"
                          "\\textasciicircum{}\\textbackslash{}");
    ss_latex_escape("1 \xc2\xb1 2 \xe2\x88\x92 3 \xe2\x80\x93 x", out, sizeof out);
    ck_assert_str_eq(out, "1 $\\pm$ 2 $-$ 3 -- x");
    ss_latex_escape("%%%%", out, 5); /* truncates at whole escapes */
    ck_assert_str_eq(out, "\\%\\%");
}
END_TEST

/* ---- training curves -------------------------------------------------------------- */
START_TEST(curves_data)
{
    const char *log =
        "start method=x seed=1\n"
        "iter=1 lr=0.01 ramp=nan sec_per_iter=1.0 loss=0.9 sup=0.5 con=0.4\n"
        "iter=10 lr=0.01 ramp=0.1 sec_per_iter=1.0 loss=0.8 sup=0.45 con=0.35\n"
        "eval iter=10 split=val cases=2 mean_dice=0.500000 seconds=1.0\n"
        "iter=20 lr=0.01 ramp=0.1 sec_per_iter=1.0 loss=0.7 sup=0.4 con=0.3\n"
        "resume iter=10 cursor=10 best=0.5@10 from x\n"
        "iter=20 lr=0.01 ramp=0.1 sec_per_iter=1.0 loss=0.6 sup=0.35 con=0.25\n"
        "eval iter=20 split=val cases=2 mean_dice=0.600000 seconds=1.0\n"
        "eval iter=20 split=test tag=last: the selection evaluation\n"
        "eval iter=20 split=test cases=2 mean_dice=0.700000 seconds=1.0 tag=best\n";
    char *d;
    int ne;
    ck_assert_msg(ss_curves_data(log, "train.log", &d, &ne) == SS_OK, "%s", semiseg_error());
    ck_assert_int_eq(ne, 2);
    ck_assert_str_eq(d, "iter loss sup con\n1 0.9 0.5 0.4\n10 0.8 0.45 0.35\n20 0.6 0.35 0.25\n"
                        "\n\niter val_dice\n10 0.500000\n20 0.600000\n");
    free(d);
    ck_assert_int_eq(ss_curves_data("start\n", "t.log", &d, &ne), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "no iteration lines"));
}
END_TEST

/* ---- overlay PNG -------------------------------------------------------------------- */
static unsigned char *read_png(const char *path, int *w, int *h)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    ck_assert(png && info);
    if (setjmp(png_jmpbuf(png)))
        ck_abort_msg("libpng could not read %s", path);
    png_init_io(png, f);
    png_read_info(png, info);
    *w = (int)png_get_image_width(png, info);
    *h = (int)png_get_image_height(png, info);
    ck_assert_int_eq(png_get_color_type(png, info), PNG_COLOR_TYPE_RGB);
    ck_assert_int_eq(png_get_bit_depth(png, info), 8);
    unsigned char *px = malloc((size_t)*w * *h * 3);
    for (int y = 0; y < *h; y++)
        png_read_row(png, px + (size_t)y * *w * 3, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    return px;
}

static void expect_px(const unsigned char *px, int W, int y, int x, int r, int g, int b)
{
    const unsigned char *q = px + ((size_t)y * W + x) * 3;
    ck_assert_msg(q[0] == r && q[1] == g && q[2] == b, "pixel (%d,%d) is %d,%d,%d, want %d,%d,%d",
                  y, x, q[0], q[1], q[2], r, g, b);
}

static void h5_put(hid_t f, const char *name, const hsize_t *dims, hid_t ftype, hid_t mtype,
                   const void *data)
{
    hid_t sp = H5Screate_simple(3, dims, NULL);
    hid_t d = H5Dcreate2(f, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert(d >= 0);
    ck_assert(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
}

START_TEST(overlay_png)
{
    enum { H = 8, W = 8, S = 2 };
    float img[H * W];
    uint8_t gt[H * W] = {0}, pr[H * W] = {0};
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            img[y * W + x] = (float)(y * W + x) * 0.5f - 3.0f; /* min -3 -> 0, max 28.5 -> 255 */
            gt[y * W + x] = y >= 2 && y <= 5 && x >= 2 && x <= 5;
            pr[y * W + x] = (y >= 3 && y <= 6 && x >= 3 && x <= 6) ? 2 : 0;
        }
    char tmp[256], p[512];
    ck_assert_int_eq(dtu_tmpdir("ss_rep_", tmp, sizeof tmp), 0);
    snprintf(p, sizeof p, "%s/o.png", tmp);
    ck_assert_msg(ss_overlay_png(img, gt, pr, H, W, S, p) == SS_OK, "%s", semiseg_error());
    int w, h;
    unsigned char *px = read_png(p, &w, &h);
    ck_assert_int_eq(w, W * S);
    ck_assert_int_eq(h, H * S);
    for (int dy = 0; dy < S; dy++)
        for (int dx = 0; dx < S; dx++) {
            expect_px(px, w, 0 + dy, 0 + dx, 0, 0, 0);                   /* image minimum */
            expect_px(px, w, 7 * S + dy, 7 * S + dx, 255, 255, 255);     /* image maximum */
            expect_px(px, w, 2 * S + dy, 2 * S + dx, 255, 0, 0);         /* gt corner: red */
            expect_px(px, w, 6 * S + dy, 6 * S + dx, 0, 255, 0);         /* pred corner: green */
            expect_px(px, w, 3 * S + dy, 3 * S + dx, 0, 255, 0);         /* gt interior, pred edge */
            expect_px(px, w, 3 * S + dy, 5 * S + dx, 255, 255, 0);       /* both edges: yellow */
            /* interior of both: grey (15 + 3) / 31.5 * 255 = 145.7 -> 146 */
            expect_px(px, w, 4 * S + dy, 4 * S + dx, 146, 146, 146);
        }
    /* the same slice from HDF5 files: the case stored (x,y,z) as LA files are,
     * the prediction (D,H,W) as `semiseg eval --save-pred` writes it */
    enum { D = 3, K = 1 };
    float *ci = calloc(D * H * W, sizeof(float));
    uint8_t *cl = calloc(D * H * W, 1), *cp = calloc(D * H * W, 1);
    for (int z = 0; z < D; z++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                size_t xyz = ((size_t)x * H + y) * D + z, dhw = ((size_t)z * H + y) * W + x;
                ci[xyz] = z == K ? img[y * W + x] : 100.0f;
                cl[xyz] = z == K ? gt[y * W + x] : 1;
                cp[dhw] = z == K ? pr[y * W + x] : 0;
            }
    char ch[512], ph[512], p2[512];
    snprintf(ch, sizeof ch, "%s/case.h5", tmp);
    snprintf(ph, sizeof ph, "%s/pred.h5", tmp);
    snprintf(p2, sizeof p2, "%s/o2.png", tmp);
    hsize_t dx[3] = {W, H, D};
    hid_t f = H5Fcreate(ch, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert(f >= 0);
    h5_put(f, "image", dx, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, ci);
    h5_put(f, "label", dx, H5T_STD_U8LE, H5T_NATIVE_UINT8, cl);
    H5Fclose(f);
    int dims[3] = {D, H, W};
    ck_assert_msg(ss_write_label_h5(ph, cp, dims, NULL) == SS_OK, "%s", semiseg_error());
    ck_assert_msg(ss_overlay_from_h5(ch, ph, K, SS_LAYOUT_AUTO, S, p2, NULL) == SS_OK, "%s",
                  semiseg_error());
    int w2, h2;
    unsigned char *px2 = read_png(p2, &w2, &h2);
    ck_assert_int_eq(w2, w);
    ck_assert_int_eq(h2, h);
    ck_assert_msg(memcmp(px, px2, (size_t)w * h * 3) == 0, "overlay from (x,y,z) HDF5 differs");
    ck_assert_int_eq(ss_overlay_from_h5(ch, ph, D, SS_LAYOUT_AUTO, S, p2, NULL), SS_ERR);
    ck_assert_ptr_nonnull(strstr(semiseg_error(), "slice 3 is outside 0..2"));
    ck_assert_int_eq(ss_overlay_from_h5(ch, ph, K, SS_LAYOUT_DHW, S, p2, NULL), SS_ERR);
    /* automatic slice choice: slices 0 and 2 are all foreground, slice K is not;
     * the first largest one is taken */
    int used = -5;
    ck_assert_msg(ss_overlay_from_h5(ch, ph, -1, SS_LAYOUT_AUTO, 1, p2, &used) == SS_OK, "%s",
                  semiseg_error());
    ck_assert_int_eq(used, 0);
    free(px2);
    free(ci);
    free(cl);
    free(cp);
    free(px);
    dtu_rm_rf(tmp);
}
END_TEST

Suite *suite_reports(void)
{
    Suite *s = suite_create("reports");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, table1_spec);
    tcase_add_test(t, spec_parse_and_errors);
    tcase_add_test(t, run_states_and_args);
    tcase_add_test(t, shell_quote);
    tcase_add_test(t, table_render);
    tcase_add_test(t, summary_read);
    tcase_add_test(t, latex_escape);
    tcase_add_test(t, curves_data);
    tcase_add_test(t, overlay_png);
    suite_add_tcase(s, t);
    return s;
}
