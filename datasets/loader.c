/* Batch loader: the two-stream sampler, case reads and augmentation on worker
 * threads, up to `prefetch` batches ahead of the consumer.
 *
 * Work is split into (batch, row) tasks. Batch b lives in ring slot
 * b % prefetch; its rows come from the sampler at cursor b, and row r is
 * augmented with counter b*batch + r on the loader's own Philox stream, so a
 * batch depends only on (seed, b) and never on the thread count or timing.
 * Workers claim tasks in batch order and write straight into the slot; the
 * consumer copies a READY slot out and frees it for batch b + prefetch.
 * Seeking stops and joins the workers, empties the ring and restarts them at
 * the new cursor. A failed read or augmentation marks its batch: ss_loader_next
 * returns -1 with that message and does not advance (seek to retry). With
 * `cache`, each train case is kept in memory after its first read (shared,
 * read-only). */
#include "datasets/dataset.h"

#include "kernels/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOADER_AUG_STREAM 0x4C4F4144u

enum { SLOT_EMPTY = 0, SLOT_FILLING, SLOT_READY };

typedef struct slot {
    uint64_t batch;
    int state, next_row, rows_done, failed;
    char err[512];
    int *rows;
    float *image, *label;
} slot;

struct ss_loader {
    const ss_dataset *ds;
    ss_loader_opts o;
    int channels;
    size_t patch_n;
    int n_train;
    ss_sampler smp;
    slot *slots;
    uint64_t next_out, next_fill;
    int stop, running;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    ss_volume **cache;
    pthread_mutex_t cache_mu;
};

/* The case of train row ROW: from the cache, or read (into *tmp) when not
 * caching. Returns the volume or NULL with the message set. */
static const ss_volume *get_case(ss_loader *l, int row, ss_volume *tmp)
{
    if (!l->o.cache) {
        if (ss_dataset_load(l->ds, SS_SPLIT_TRAIN, row, tmp))
            return NULL;
        return tmp;
    }
    pthread_mutex_lock(&l->cache_mu);
    ss_volume *v = l->cache[row];
    pthread_mutex_unlock(&l->cache_mu);
    if (v)
        return v;
    ss_volume *nv = calloc(1, sizeof *nv);
    if (!nv) {
        ss_seterr("loader: out of memory for a cached case");
        return NULL;
    }
    if (ss_dataset_load(l->ds, SS_SPLIT_TRAIN, row, nv)) {
        free(nv);
        return NULL;
    }
    pthread_mutex_lock(&l->cache_mu);
    if (!l->cache[row]) {
        l->cache[row] = nv;
        nv = NULL;
    }
    v = l->cache[row];
    pthread_mutex_unlock(&l->cache_mu);
    if (nv) { /* another worker read it first */
        ss_volume_free(nv);
        free(nv);
    }
    return v;
}

static int do_row(ss_loader *l, slot *s, uint64_t b, int r)
{
    ss_volume tmp;
    memset(&tmp, 0, sizeof tmp);
    int row = s->rows[r];
    const ss_volume *v = get_case(l, row, &tmp);
    if (!v)
        return SS_ERR;
    int rc = SS_OK;
    if (v->c != l->channels) {
        rc = ss_seterr("loader: %s case '%s' has %d channels, the dataset protocol %d",
                       ss_dataset_info_of(l->ds)->name, v->id, v->c, l->channels);
    } else {
        float *img = s->image + (size_t)r * l->channels * l->patch_n;
        float *lab = s->label + (size_t)r * l->patch_n;
        rc = ss_augment(l->o.aug, l->o.patch, v, l->o.seed, LOADER_AUG_STREAM,
                        b * (uint64_t)l->o.batch + (uint64_t)r, img, lab);
    }
    ss_volume_free(&tmp);
    return rc;
}

/* Under the lock: claims the next (slot, row) task, starting a new batch when
 * the ring has room. Returns 0 when there is nothing to do. */
static int claim(ss_loader *l, slot **out, uint64_t *b, int *r)
{
    for (;;) {
        for (uint64_t q = l->next_out; q < l->next_fill; q++) {
            slot *s = &l->slots[q % (uint64_t)l->o.prefetch];
            if (s->state == SLOT_FILLING && s->batch == q && s->next_row < l->o.batch &&
                !s->failed) {
                *out = s;
                *b = q;
                *r = s->next_row++;
                return 1;
            }
        }
        if (l->next_fill >= l->next_out + (uint64_t)l->o.prefetch)
            return 0;
        slot *s = &l->slots[l->next_fill % (uint64_t)l->o.prefetch];
        if (s->state != SLOT_EMPTY)
            return 0;
        ss_sampler_seek(&l->smp, l->next_fill);
        if (ss_sampler_next(&l->smp, s->rows)) {
            s->failed = 1;
            snprintf(s->err, sizeof s->err, "%s", semiseg_error());
            s->state = SLOT_READY;
        } else {
            s->state = SLOT_FILLING;
        }
        s->batch = l->next_fill++;
        s->next_row = s->rows_done = 0;
        if (s->state == SLOT_READY)
            pthread_cond_broadcast(&l->cv_done);
    }
}

static void *worker(void *arg)
{
    ss_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        slot *s;
        uint64_t b;
        int r;
        if (!claim(l, &s, &b, &r)) {
            pthread_cond_wait(&l->cv_work, &l->mu);
            continue;
        }
        pthread_mutex_unlock(&l->mu);
        int rc = do_row(l, s, b, r);
        pthread_mutex_lock(&l->mu);
        if (rc && !s->failed) {
            s->failed = 1;
            snprintf(s->err, sizeof s->err, "%s", semiseg_error());
        }
        s->rows_done++;
        /* a failed batch is finished once no claimed row is still running */
        if (s->rows_done == (s->failed ? s->next_row : l->o.batch)) {
            s->state = SLOT_READY;
            pthread_cond_broadcast(&l->cv_done);
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static int start_workers(ss_loader *l)
{
    l->stop = 0;
    for (int i = 0; i < l->o.workers; i++)
        if (pthread_create(&l->threads[i], NULL, worker, l)) {
            pthread_mutex_lock(&l->mu);
            l->stop = 1;
            pthread_cond_broadcast(&l->cv_work);
            pthread_mutex_unlock(&l->mu);
            for (int j = 0; j < i; j++)
                pthread_join(l->threads[j], NULL);
            l->running = 0;
            return ss_seterr("loader: cannot start worker thread %d of %d", i + 1,
                             l->o.workers);
        }
    l->running = 1;
    return SS_OK;
}

static void stop_workers(ss_loader *l)
{
    if (!l->running)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->o.workers; i++)
        pthread_join(l->threads[i], NULL);
    l->running = 0;
}

int ss_loader_open(const ss_dataset *ds, const ss_loader_opts *o, ss_loader **out)
{
    *out = NULL;
    const ss_dataset_info *info = ss_dataset_info_of(ds);
    if (o->workers < 1 || o->prefetch < 1)
        return ss_seterr("loader: need workers >= 1 and prefetch >= 1 (got %d and %d)",
                         o->workers, o->prefetch);
    for (int a = 0; a < 3; a++)
        if (o->patch[a] < 1)
            return ss_seterr("loader: bad patch (%d,%d,%d)", o->patch[0], o->patch[1],
                             o->patch[2]);
    ss_loader *l = calloc(1, sizeof *l);
    if (!l)
        return ss_seterr("loader: out of memory");
    l->ds = ds;
    l->o = *o;
    l->channels = info->in_channels;
    l->patch_n = (size_t)o->patch[0] * o->patch[1] * o->patch[2];
    l->n_train = ss_dataset_count(ds, SS_SPLIT_TRAIN);
    if (ss_sampler_init(&l->smp, o->labeled_rows, l->n_train, o->batch, o->labeled_bs, o->seed)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", semiseg_error());
        int n = l->n_train;
        free(l);
        return ss_seterr("loader (%s, train list %d rows): %s", info->name, n, msg);
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->cache_mu, NULL);
    pthread_cond_init(&l->cv_work, NULL);
    pthread_cond_init(&l->cv_done, NULL);
    l->slots = calloc((size_t)o->prefetch, sizeof(slot));
    l->threads = calloc((size_t)o->workers, sizeof(pthread_t));
    l->cache = o->cache ? calloc((size_t)l->n_train, sizeof(ss_volume *)) : NULL;
    int ok = l->slots && l->threads && (!o->cache || l->cache);
    for (int i = 0; ok && i < o->prefetch; i++) {
        slot *s = &l->slots[i];
        s->rows = malloc(sizeof(int) * (size_t)o->batch);
        s->image = malloc(sizeof(float) * (size_t)o->batch * l->channels * l->patch_n);
        s->label = malloc(sizeof(float) * (size_t)o->batch * l->patch_n);
        s->batch = UINT64_MAX;
        ok = s->rows && s->image && s->label;
    }
    if (!ok) {
        ss_loader_close(l);
        return ss_seterr("loader: out of memory for %d prefetched batches of %d x %d x "
                         "(%d,%d,%d)",
                         o->prefetch, o->batch, info->in_channels, o->patch[0], o->patch[1],
                         o->patch[2]);
    }
    if (start_workers(l)) {
        ss_loader_close(l);
        return SS_ERR;
    }
    *out = l;
    return SS_OK;
}

void ss_loader_close(ss_loader *l)
{
    if (!l)
        return;
    stop_workers(l);
    for (int i = 0; l->slots && i < l->o.prefetch; i++) {
        free(l->slots[i].rows);
        free(l->slots[i].image);
        free(l->slots[i].label);
    }
    free(l->slots);
    free(l->threads);
    for (int i = 0; l->cache && i < l->n_train; i++)
        if (l->cache[i]) {
            ss_volume_free(l->cache[i]);
            free(l->cache[i]);
        }
    free(l->cache);
    ss_sampler_free(&l->smp);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->cache_mu);
    pthread_cond_destroy(&l->cv_work);
    pthread_cond_destroy(&l->cv_done);
    free(l);
}

int ss_loader_next(ss_loader *l, float *image, float *label)
{
    pthread_mutex_lock(&l->mu);
    uint64_t b = l->next_out;
    slot *s = &l->slots[b % (uint64_t)l->o.prefetch];
    pthread_cond_broadcast(&l->cv_work);
    while (!(s->batch == b && s->state == SLOT_READY))
        pthread_cond_wait(&l->cv_done, &l->mu);
    if (s->failed) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s", s->err);
        pthread_mutex_unlock(&l->mu);
        return ss_seterr("%s", msg);
    }
    pthread_mutex_unlock(&l->mu);
    /* a READY slot is not touched by workers until it is released */
    size_t ni = (size_t)l->o.batch * l->channels * l->patch_n;
    memcpy(image, s->image, sizeof(float) * ni);
    if (label)
        memcpy(label, s->label, sizeof(float) * (size_t)l->o.batch * l->patch_n);
    pthread_mutex_lock(&l->mu);
    s->state = SLOT_EMPTY;
    l->next_out++;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    return SS_OK;
}

uint64_t ss_loader_cursor(const ss_loader *l)
{
    return l->next_out;
}

int ss_loader_seek(ss_loader *l, uint64_t cursor)
{
    stop_workers(l);
    for (int i = 0; i < l->o.prefetch; i++) {
        l->slots[i].state = SLOT_EMPTY;
        l->slots[i].failed = 0;
        l->slots[i].batch = UINT64_MAX;
    }
    l->next_out = l->next_fill = cursor;
    return start_workers(l);
}
