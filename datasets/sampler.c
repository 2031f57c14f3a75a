/* Two-stream batch sampler (TwoStreamBatchSampler of the reference code):
 *
 *   batch c = [labeled_bs labeled rows | batch - labeled_bs unlabeled rows]
 *
 * An epoch is L = n_labeled / labeled_bs batches (the trailing n_labeled mod
 * labeled_bs labeled rows of the epoch's permutation are dropped). Batch c
 * belongs to epoch e = c / L at position b = c % L:
 *   labeled rows   P_e[b*labeled_bs + r]            P_e = perm(n_labeled; seed, L-stream, e, 0)
 *   unlabeled rows n_labeled + Q_{e,t / n_u}[t % n_u] with t = b*u + r, u = batch - labeled_bs,
 *                  Q_{e,j} = perm(n_u; seed, U-stream, e, j): the unlabeled stream is an
 *                  endless chain Q_{e,0}, Q_{e,1}, ... started afresh at every epoch.
 * perm(n; seed, stream, e, j) is a Fisher-Yates shuffle of 0..n-1: for i = n-1
 * down to 1 swap p[i] with p[k], k = floor(bits * (i+1) / 2^32), bits =
 * ss_rng_bits(seed, stream, e, j * 2^32 + i). (The multiply-shift bound has a
 * bias below (i+1)/2^32, negligible for list lengths.) Every batch is thus a
 * pure function of (seed, c): the cursor is the whole state. */
#include "datasets/dataset.h"

#include "kernels/error.h"
#include "kernels/rng.h"

#include <stdlib.h>
#include <string.h>

#define SAMPLER_STREAM_L 0x5A4D4C01u
#define SAMPLER_STREAM_U 0x5A4D5502u

static void permutation(int *p, int n, uint64_t seed, uint32_t stream, uint64_t epoch,
                        uint64_t chain)
{
    for (int i = 0; i < n; i++)
        p[i] = i;
    for (int i = n - 1; i >= 1; i--) {
        uint32_t bits = ss_rng_bits(seed, stream, epoch, (chain << 32) | (uint64_t)i);
        int k = (int)(((uint64_t)bits * (uint64_t)(i + 1)) >> 32);
        int t = p[i];
        p[i] = p[k];
        p[k] = t;
    }
}

int ss_sampler_init(ss_sampler *s, int n_labeled, int n_total, int batch, int labeled_bs,
                    uint64_t seed)
{
    memset(s, 0, sizeof *s);
    if (batch < 1 || labeled_bs < 1 || labeled_bs > batch)
        return ss_seterr("sampler: batch %d with %d labeled rows: need 1 <= labeled_bs <= batch",
                         batch, labeled_bs);
    if (n_labeled < 0 || n_total < n_labeled)
        return ss_seterr("sampler: %d labeled rows of %d train rows", n_labeled, n_total);
    if (n_labeled < labeled_bs)
        return ss_seterr("sampler: %d labeled rows cannot fill %d labeled slots per batch",
                         n_labeled, labeled_bs);
    int u = batch - labeled_bs, n_u = n_total - n_labeled;
    if (u > 0 && n_u < u)
        return ss_seterr("sampler: %d unlabeled rows cannot fill %d unlabeled slots per batch "
                         "(train list %d rows, %d labeled)",
                         n_u, u, n_total, n_labeled);
    s->n_labeled = n_labeled;
    s->n_unlabeled = u > 0 ? n_u : 0;
    s->batch = batch;
    s->labeled_bs = labeled_bs;
    s->seed = seed;
    s->lperm = malloc(sizeof(int) * (size_t)n_labeled);
    s->uperm = s->n_unlabeled ? malloc(sizeof(int) * (size_t)s->n_unlabeled) : NULL;
    if (!s->lperm || (s->n_unlabeled && !s->uperm)) {
        ss_sampler_free(s);
        return ss_seterr("sampler: out of memory for %d + %d rows", n_labeled, n_u);
    }
    s->lperm_epoch = -1;
    s->uperm_key = -1;
    return SS_OK;
}

void ss_sampler_free(ss_sampler *s)
{
    free(s->lperm);
    free(s->uperm);
    s->lperm = s->uperm = NULL;
}

int ss_sampler_next(ss_sampler *s, int *rows)
{
    if (!s->lperm)
        return ss_seterr("sampler: not initialised");
    int lbs = s->labeled_bs, u = s->batch - lbs;
    uint64_t len = (uint64_t)(s->n_labeled / lbs);
    uint64_t e = s->cursor / len, b = s->cursor % len;
    if (s->lperm_epoch != (int64_t)e) {
        permutation(s->lperm, s->n_labeled, s->seed, SAMPLER_STREAM_L, e, 0);
        s->lperm_epoch = (int64_t)e;
    }
    for (int r = 0; r < lbs; r++)
        rows[r] = s->lperm[b * (uint64_t)lbs + (uint64_t)r];
    if (u > 0) {
        /* chains per epoch: t < len*u, so j < len*u/n_u + 1; key = e * that + j */
        uint64_t per = len * (uint64_t)u / (uint64_t)s->n_unlabeled + 1;
        for (int r = 0; r < u; r++) {
            uint64_t t = b * (uint64_t)u + (uint64_t)r;
            uint64_t j = t / (uint64_t)s->n_unlabeled;
            int64_t key = (int64_t)(e * per + j);
            if (s->uperm_key != key) {
                permutation(s->uperm, s->n_unlabeled, s->seed, SAMPLER_STREAM_U, e, j);
                s->uperm_key = key;
            }
            rows[lbs + r] = s->n_labeled + s->uperm[t % (uint64_t)s->n_unlabeled];
        }
    }
    s->cursor++;
    return SS_OK;
}

void ss_sampler_seek(ss_sampler *s, uint64_t cursor)
{
    s->cursor = cursor;
}
