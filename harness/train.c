/* The training loop shared by every method (see train.h). */
#include "train.h"

#include "checkpoint.h"
#include "harness/predictor.h"
#include "harness/schedule.h"
#include "harness/weights_h5.h"
#include "kernels/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int ss_terms_add(ss_loss_terms *t, const char *name, double value)
{
    if (t->n == SS_MAX_TERMS)
        return ss_seterr("train: more than %d loss terms", SS_MAX_TERMS);
    snprintf(t->name[t->n], sizeof t->name[0], "%s", name);
    t->value[t->n++] = value;
    return SS_OK;
}

int ss_train_add_net(ss_train_ctx *c, const char *name, ss_nn *nn)
{
    if (c->n_nets == SS_TRAIN_MAX_NETS)
        return ss_seterr("train: more than %d networks", SS_TRAIN_MAX_NETS);
    snprintf(c->net_name[c->n_nets], sizeof c->net_name[0], "%s", name);
    c->nets[c->n_nets++] = nn;
    return SS_OK;
}

int ss_train_add_optim(ss_train_ctx *c, const char *name, ss_optim *o, int scheduled)
{
    if (c->n_opts == SS_TRAIN_MAX_OPTS)
        return ss_seterr("train: more than %d optimizers", SS_TRAIN_MAX_OPTS);
    snprintf(c->opt_name[c->n_opts], sizeof c->opt_name[0], "%s", name);
    c->opt_scheduled[c->n_opts] = scheduled;
    c->opts[c->n_opts++] = o;
    return SS_OK;
}

int ss_train_optim_cfg(const ss_spec *s, ss_optim_cfg *out)
{
    memset(out, 0, sizeof *out);
    const char *kind;
    if (ss_spec_str(s, "train.optimizer", &kind) || ss_optim_kind_parse(kind, &out->kind) ||
        ss_spec_double(s, "train.lr", &out->lr) ||
        ss_spec_double_or(s, "train.weight_decay", 0.0, &out->weight_decay))
        return SS_ERR;
    if (out->kind == SS_OPTIM_SGD)
        return ss_spec_double_or(s, "train.momentum", 0.0, &out->momentum);
    return ss_spec_double_or(s, "train.beta1", 0.9, &out->beta1) ||
                   ss_spec_double_or(s, "train.beta2", 0.999, &out->beta2) ||
                   ss_spec_double_or(s, "train.eps", 1e-8, &out->eps)
               ? SS_ERR
               : SS_OK;
}

int ss_train_batch_shape(const ss_method *m, const ss_spec *s, int *batch, int *labeled_bs)
{
    if (ss_spec_int(s, "data.labeled_bs", labeled_bs))
        return SS_ERR;
    if (m->labeled_only)
        *batch = *labeled_bs;
    else if (ss_spec_int(s, "data.batch", batch))
        return SS_ERR;
    if (*labeled_bs < 1 || *batch < *labeled_bs)
        return ss_seterr("spec: data.labeled_bs (%d) must be >= 1 and <= data.batch (%d)",
                         *labeled_bs, *batch);
    return SS_OK;
}

static int read_schedule(const ss_spec *s, long iterations, ss_schedule *sc)
{
    memset(sc, 0, sizeof *sc);
    const char *kind;
    long ws = 0;
    if (ss_spec_str(s, "train.schedule", &kind) || ss_sched_kind_parse(kind, &sc->kind) ||
        ss_spec_double(s, "train.lr", &sc->base) ||
        ss_spec_long_or(s, "train.step_size", 2500, &sc->step_size) ||
        ss_spec_double_or(s, "train.gamma", 0.1, &sc->gamma) ||
        ss_spec_double_or(s, "train.power", 0.9, &sc->power) ||
        ss_spec_long_or(s, "train.warmup_iters", 0, &ws) ||
        ss_spec_double_or(s, "train.warmup_start", 1.0, &sc->warmup_start))
        return SS_ERR;
    sc->warmup_iters = ws;
    sc->max_iter = iterations;
    return ss_schedule_check(sc);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void logf_(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(FILE *f, const char *fmt, ...)
{
    if (!f)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fflush(f);
}

static void fmt_hms(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e7)
        s = 0;
    long t = (long)(s + 0.5);
    snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

typedef struct loop {
    const ss_train_opts *o;
    ss_train_ctx c;
    ss_infer_net inet;
    ss_predictor *pred;
    ss_infer_opts io;
    char ckdir[4096];
    FILE *log;
    double best_score;
    long best_iter;
    ss_eval_result *res_last, *res_best; /* selection results kept when selecting on test */
    long res_last_iter, res_best_iter;
} loop;

static int make_dir(const char *p)
{
    if (mkdir(p, 0777) != 0) {
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
            return ss_seterr("train: cannot create directory %s", p);
    }
    return SS_OK;
}

/* Evaluates the current weights of the inference net on SRC into a new
 * heap result (*out; free with drop_result). */
static int eval_run(loop *L, const ss_case_source *src, const char *split, const char *tag,
                    long iter, ss_eval_result **out)
{
    *out = NULL;
    if (ss_predictor_copy_from(L->pred, L->inet.nn))
        return SS_ERR;
    ss_eval_opts eo = {.infer = L->io, .empty = SS_EMPTY_ZERO, .use_spacing = 0};
    ss_eval_result *r = calloc(1, sizeof *r);
    if (!r)
        return ss_seterr("train: out of memory");
    if (ss_evaluate(&eo, src, ss_predictor_predict, L->pred, r)) {
        free(r);
        return SS_ERR;
    }
    logf_(L->log, "eval iter=%ld split=%s cases=%d mean_dice=%.6f seconds=%.1f%s%s\n", iter, split,
          r->n_cases, r->mean_dice, r->total_seconds, tag ? " tag=" : "", tag ? tag : "");
    *out = r;
    return SS_OK;
}

/* Frees r unless the loop still keeps it as the latest or best selection result. */
static void drop_result(loop *L, ss_eval_result *r)
{
    if (!r || r == L->res_last || r == L->res_best)
        return;
    ss_eval_result_free(r);
    free(r);
}

/* metrics.csv + summary.json of r into DIR. */
static int eval_write(loop *L, const ss_eval_result *r, const char *dir, const char *tag,
                      const char *weights, long iter)
{
    ss_eval_opts eo = {.infer = L->io, .empty = SS_EMPTY_ZERO, .use_spacing = 0};
    ss_eval_meta m = L->o->meta;
    m.tag = tag;
    m.split = "test";
    m.model = L->inet.cfg.name;
    m.head = L->inet.head;
    m.weights = weights;
    m.iteration = iter;
    return make_dir(dir) || ss_eval_write(r, &eo, &m, dir) ? SS_ERR : SS_OK;
}

/* The test-set result of the current weights at iteration iter: the kept
 * selection result when selection ran on the test split at that iteration. */
static int test_result(loop *L, long iter, ss_eval_result *kept, long kept_iter, const char *tag,
                       ss_eval_result **out)
{
    if (kept && kept_iter == iter && L->o->select_is_test) {
        logf_(L->log, "eval iter=%ld split=test tag=%s: the selection evaluation of this "
                      "iteration (same weights, same cases)\n", iter, tag);
        *out = kept;
        return SS_OK;
    }
    return eval_run(L, &L->o->test_cases, "test", tag, iter, out);
}

static int save(loop *L, const char *name, long iter, uint64_t cursor, int weights_too)
{
    char path[4200];
    ss_ckpt_meta m = {.iteration = iter, .cursor = cursor, .best_score = L->best_score,
                      .best_iter = L->best_iter};
    snprintf(m.method, sizeof m.method, "%s", L->o->method->name);
    snprintf(path, sizeof path, "%s/%s.h5", L->ckdir, name);
    if (ss_checkpoint_save(path, &L->c, &m, L->o->spec_text))
        return SS_ERR;
    if (weights_too) {
        snprintf(path, sizeof path, "%s/%s.weights.h5", L->ckdir, name);
        return ss_weights_save(L->inet.nn, path, iter);
    }
    return SS_OK;
}

static void progress(const loop *L, int mode, long it, long total, double loss, double spi,
                     int final)
{
    char eta[32];
    fmt_hms(eta, sizeof eta, spi * (double)(total - it));
    if (mode == 2) {
        int w = 30, fill = total ? (int)((double)w * (double)it / (double)total) : w;
        char bar[64];
        for (int i = 0; i < w; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[w] = '\0';
        fprintf(stderr, "\r%s [%s] %ld/%ld loss %.4f %.2fs/it ETA %s ", L->o->method->name, bar, it,
                total, loss, spi, eta);
        if (final)
            fputc('\n', stderr);
    } else if (mode == 1) {
        fprintf(stderr, "%s: iter %ld/%ld loss %.4f %.2fs/it ETA %s\n", L->o->method->name, it,
                total, loss, spi, eta);
    }
}

static int final_evals(loop *L, long iters, uint64_t cursor)
{
    const ss_train_opts *o = L->o;
    char dir[4200], w[4200];
    ss_eval_result *r;
    /* last: the current weights */
    snprintf(dir, sizeof dir, "%s/last", o->run_dir);
    snprintf(w, sizeof w, "%s/last.weights.h5", L->ckdir);
    if (test_result(L, iters, L->res_last, L->res_last_iter, "last", &r))
        return SS_ERR;
    int rc = eval_write(L, r, dir, "last", w, iters);
    double score = r->mean_dice;
    drop_result(L, r);
    if (rc)
        return SS_ERR;
    logf_(L->log, "final tag=last iter=%ld test_mean_dice=%.6f\n", iters, score);
    if (o->result)
        o->result->test_dice_last = score;
    /* best: the selected checkpoint, or the last one when nothing was selected */
    snprintf(w, sizeof w, "%s/best.h5", L->ckdir);
    long biter = iters;
    if (L->best_iter > 0 && access(w, R_OK) == 0) {
        ss_ckpt_meta m;
        memset(&m, 0, sizeof m);
        if (ss_checkpoint_load(w, &L->c, &m, 1))
            return SS_ERR;
        biter = m.iteration;
    } else {
        logf_(L->log, "note: no selection evaluation ran; best = last\n");
        if (save(L, "best", iters, cursor, 1))
            return SS_ERR;
    }
    snprintf(dir, sizeof dir, "%s/best", o->run_dir);
    snprintf(w, sizeof w, "%s/best.weights.h5", L->ckdir);
    if (test_result(L, biter, L->res_best, L->res_best_iter, "best", &r))
        return SS_ERR;
    rc = eval_write(L, r, dir, "best", w, biter);
    score = r->mean_dice;
    drop_result(L, r);
    if (rc)
        return SS_ERR;
    logf_(L->log, "final tag=best iter=%ld test_mean_dice=%.6f\n", biter, score);
    if (o->result) {
        o->result->test_dice_best = score;
        o->result->best_iter = biter;
    }
    return SS_OK;
}

static int run_loop(loop *L)
{
    const ss_train_opts *o = L->o;
    const ss_spec *s = o->spec;
    ss_train_ctx *c = &L->c;
    long every, start, ck_every, log_every;
    ss_schedule sc;
    if (ss_spec_long(s, "train.iterations", &c->iterations) ||
        read_schedule(s, c->iterations, &sc) || ss_spec_long_or(s, "eval.every", 200, &every) ||
        ss_spec_long_or(s, "eval.start", 800, &start) ||
        ss_spec_long_or(s, "train.checkpoint_every", 1000, &ck_every) ||
        ss_spec_long_or(s, "train.log_every", 10, &log_every))
        return SS_ERR;
    if (c->iterations < 1 || every < 1 || ck_every < 1 || log_every < 1)
        return ss_seterr("spec: train.iterations, eval.every, train.checkpoint_every and "
                         "train.log_every must be >= 1");
    if (o->method->build(c))
        return SS_ERR;
    if (o->method->infer_net(c, &L->inet))
        return SS_ERR;
    /* evaluation: predictor on the inference net */
    int eb = 1, lcc = 0, stride[3] = {c->patch[0], c->patch[1], c->patch[2]};
    long v;
    if (ss_spec_long_or(s, "eval.batch", 1, &v))
        return SS_ERR;
    eb = (int)v;
    if (ss_spec_long_or(s, "eval.lcc", 0, &v))
        return SS_ERR;
    lcc = (int)v;
    if (ss_spec_get(s, "eval.stride") && ss_spec_int3(s, "eval.stride", stride))
        return SS_ERR;
    L->io = (ss_infer_opts){.dims = c->dims, .classes = c->classes, .batch = eb, .lcc = lcc};
    memcpy(L->io.patch, c->patch, sizeof c->patch);
    memcpy(L->io.stride, stride, sizeof stride);
    if (o->select_cases.n > 0 || o->test_cases.n > 0) {
        ss_predictor_opts po = {.cfg = L->inet.cfg, .batch = eb, .head = L->inet.head,
                                .backend = c->be};
        memcpy(po.cfg.patch, c->patch, sizeof c->patch);
        if (ss_predictor_create(&po, &L->pred))
            return SS_ERR;
        L->io.classes = ss_predictor_classes(L->pred);
    }
    long it0 = 0;
    uint64_t cursor0 = 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/last.h5", L->ckdir);
    if (o->resume) {
        ss_ckpt_meta m;
        memset(&m, 0, sizeof m);
        snprintf(m.method, sizeof m.method, "%s", o->method->name);
        if (ss_checkpoint_load(path, c, &m, 0))
            return SS_ERR;
        it0 = m.iteration;
        cursor0 = m.cursor;
        L->best_score = m.best_score;
        L->best_iter = m.best_iter;
        if (o->data.seek && o->data.seek(o->data.ctx, cursor0))
            return SS_ERR;
        logf_(L->log, "resume iter=%ld cursor=%llu best=%.6f@%ld from %s\n", it0,
              (unsigned long long)cursor0, L->best_score, L->best_iter, path);
    } else if (o->method->pretrain) {
        if (o->method->pretrain(c, &o->data))
            return SS_ERR;
    }
    int mode = o->progress < 0 ? (isatty(2) ? 2 : 1) : o->progress;
    size_t item = (size_t)c->in_ch * c->patch[0] * c->patch[1] * c->patch[2];
    size_t vox = (size_t)c->patch[0] * c->patch[1] * c->patch[2];
    ss_batch b = {.n = c->batch, .labeled_bs = c->labeled_bs,
                  .shape = {c->in_ch, c->patch[0], c->patch[1], c->patch[2]}};
    b.image = malloc(item * (size_t)c->batch * sizeof(float));
    b.label = malloc(vox * (size_t)c->batch * sizeof(float));
    if (!b.image || !b.label) {
        free(b.image);
        free(b.label);
        return ss_seterr("train: out of memory for a batch of %d", c->batch);
    }
    int rc = SS_OK;
    double t_start = now_s(), t_win = t_start, spi = 0, first_loss = NAN, last_loss = NAN;
    long win_n = 0;
    for (long it = it0 + 1; it <= c->iterations && rc == SS_OK; it++) {
        double t0 = now_s();
        if (o->data.next(o->data.ctx, &b)) {
            rc = SS_ERR;
            break;
        }
        double lr = ss_schedule_lr(&sc, it);
        for (int k = 0; k < c->n_opts; k++)
            if (c->opt_scheduled[k])
                ss_optim_set_lr(c->opts[k], lr);
        for (int k = 0; k < c->n_nets; k++)
            graph_set_step(c->nets[k]->g, (uint64_t)it);
        ss_loss_terms terms = {0};
        c->ramp = NAN;
        if (o->method->step(c, &b, it, &terms)) {
            rc = SS_ERR;
            break;
        }
        double dt = now_s() - t0;
        win_n++;
        double loss = terms.n ? terms.value[0] : NAN;
        if (!isfinite(loss)) {
            rc = ss_seterr("train: iteration %ld: loss is %g (diverged; lower train.lr?)", it, loss);
            break;
        }
        if (isnan(first_loss))
            first_loss = loss;
        last_loss = loss;
        if (it % log_every == 0 || it == it0 + 1 || it == c->iterations) {
            double t = now_s();
            spi = (t - t_win) / (double)win_n;
            t_win = t;
            win_n = 0;
            char line[1024];
            size_t n = (size_t)snprintf(line, sizeof line, "iter=%ld lr=%.6g ramp=%.6g sec_per_iter=%.3f",
                                        it, lr, c->ramp, spi);
            for (int k = 0; k < terms.n && n < sizeof line; k++)
                n += (size_t)snprintf(line + n, sizeof line - n, " %s=%.6f", terms.name[k],
                                      terms.value[k]);
            logf_(L->log, "%s\n", line);
            progress(L, mode, it, c->iterations, loss, spi, 0);
        } else if (mode == 2) {
            progress(L, mode, it, c->iterations, loss, spi > 0 ? spi : dt, 0);
        }
        uint64_t cursor = o->data.cursor ? o->data.cursor(o->data.ctx) : 0;
        if (o->select_cases.n > 0 && it >= start && it % every == 0) {
            ss_eval_result *r;
            double te = now_s();
            rc = eval_run(L, &o->select_cases, o->select_split, NULL, it, &r);
            t_win += now_s() - te; /* seconds per iteration exclude evaluation */
            if (rc == SS_OK) {
                double score = r->mean_dice;
                int better = score > L->best_score;
                if (better) {
                    L->best_score = score;
                    L->best_iter = it;
                    rc = save(L, "best", it, cursor, 1);
                    logf_(L->log, "best iter=%ld %s_mean_dice=%.6f\n", it, o->select_split, score);
                }
                /* keep the results a final test evaluation can reuse */
                ss_eval_result *old_last = L->res_last, *old_best = L->res_best;
                if (o->select_is_test) {
                    L->res_last = r;
                    L->res_last_iter = it;
                    if (better) {
                        L->res_best = r;
                        L->res_best_iter = it;
                    }
                }
                drop_result(L, r);
                drop_result(L, old_last);
                if (old_best != old_last)
                    drop_result(L, old_best);
            }
        }
        int stop = o->stop_after > 0 && it == o->stop_after;
        if (rc == SS_OK && (it % ck_every == 0 || it == c->iterations || stop))
            rc = save(L, "last", it, cursor, 1);
        if (stop) {
            free(b.image);
            free(b.label);
            return rc;
        }
    }
    free(b.image);
    free(b.label);
    if (rc)
        return rc;
    if (mode == 2)
        progress(L, mode, c->iterations, c->iterations, last_loss, spi, 1);
    logf_(L->log, "done iterations=%ld seconds=%.1f first_loss=%.6f last_loss=%.6f\n",
          c->iterations, now_s() - t_start, first_loss, last_loss);
    if (o->result) {
        o->result->iterations = c->iterations;
        o->result->first_loss = first_loss;
        o->result->last_loss = last_loss;
        o->result->seconds = now_s() - t_start;
        o->result->test_dice_best = o->result->test_dice_last = NAN;
    }
    if (o->test_cases.n > 0)
        return final_evals(L, c->iterations, o->data.cursor ? o->data.cursor(o->data.ctx) : 0);
    return SS_OK;
}

int ss_train_run(const ss_train_opts *o)
{
    loop L;
    memset(&L, 0, sizeof L);
    L.o = o;
    L.best_score = -1;
    ss_train_ctx *c = &L.c;
    c->spec = o->spec;
    c->be = o->backend ? o->backend : ss_backend_default();
    c->dims = o->dims;
    c->in_ch = o->in_ch;
    c->classes = o->classes;
    c->seed = o->seed;
    c->ramp = NAN;
    if (ss_spec_int3(o->spec, "data.patch", c->patch) ||
        ss_train_batch_shape(o->method, o->spec, &c->batch, &c->labeled_bs))
        return SS_ERR;
    if (o->dims == 2 && c->patch[0] != 1)
        return ss_seterr("spec: data.patch = %d,%d,%d: a 2-D dataset needs D = 1", c->patch[0],
                         c->patch[1], c->patch[2]);
    snprintf(L.ckdir, sizeof L.ckdir, "%s/checkpoints", o->run_dir);
    if (make_dir(L.ckdir))
        return SS_ERR;
    char path[4200];
    snprintf(path, sizeof path, "%s/train.log", o->run_dir);
    L.log = fopen(path, o->resume ? "a" : "w");
    if (!L.log)
        return ss_seterr("train: cannot open %s", path);
    c->log = L.log;
    logf_(L.log, "start method=%s seed=%llu batch=%d labeled_bs=%d patch=%d,%d,%d backend=%s\n",
          o->method->name, (unsigned long long)o->seed, c->batch, c->labeled_bs, c->patch[0],
          c->patch[1], c->patch[2], c->be->name);
    int rc = run_loop(&L);
    if (rc)
        logf_(L.log, "error: %s\n", semiseg_error());
    ss_eval_result *rl = L.res_last, *rb = L.res_best;
    L.res_last = L.res_best = NULL;
    drop_result(&L, rl);
    if (rb != rl)
        drop_result(&L, rb);
    if (L.pred)
        ss_predictor_free(L.pred);
    if (o->method->destroy)
        o->method->destroy(c);
    fclose(L.log);
    return rc;
}
