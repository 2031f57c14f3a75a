/* CONV / DECONV fast paths through oneDNN.
 *
 * One cached "call plan" per (op, direction, shapes, params): the oneDNN
 * primitive, and for each tensor argument the plain user layout (NCDHW data,
 * PyTorch weight layout), the layout the primitive wants and, when they
 * differ, a reorder. Reordered copies, the primitive's scratchpad and the
 * reorders' scratchpads live in the op's workspace (ss_cpu_conv_ws reports the
 * size), so executing a plan allocates nothing. Memory objects are created
 * once without a buffer and pointed at the caller's data on every call.
 *
 * Directions: forward; backward-data (gx[0]); backward-weights (gx[1] and the
 * bias gradient gx[2]). 2-D data (D = 1, kD = 1, stride 1 and pad 0 in D)
 * uses 4-D descriptors. Shapes oneDNN cannot express with the op's padding
 * (a negative right padding) and any oneDNN failure fall back to the
 * reference kernels. Kernel == stride, pad 0 shapes (V-Net's k2 s2 down and
 * up convolutions) go to the plain-layout GEMMs of fast_conv_s2.c first, 1x1x1
 * convolutions to the pointwise GEMMs below, one-input-channel 3x3(x3)
 * convolutions (the models' first layer) to fast_conv_c1.c, 3x3x3 stride-1
 * pad-1 convolutions with channels in multiples of 16 to the Winograd path of
 * fast_conv_wg.c. */
#include "cpu_fast.h"

#include "../error.h"

#include <dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { DIR_FWD = 0, DIR_BWD_DATA, DIR_BWD_W, DIR_BWD_WB };
enum { MAX_SLOTS = 5 };

typedef struct key {
    int kind, dir, n_in, plain;
    ss_shape x, w, y;
    int ip[9];
    int post;         /* forward with a ReLU post-op (ss_cpu_conv_fwd_relu); 0 none */
    float post_alpha; /* its negative slope */
} key;

typedef struct slot {
    int arg;    /* DNNL_ARG_* of the primitive */
    int out;    /* written by the primitive */
    int which;  /* user tensor: see user_ptr() */
    int reorder;
    dnnl_memory_desc_t want; /* the primitive's layout */
    dnnl_primitive_t ro;
    size_t off; /* workspace offset of the primitive-layout copy */
    dnnl_memory_t mu, mp;
} slot;

typedef struct plan {
    key k;
    int ok;
    pthread_mutex_t mu; /* one execution at a time (memory objects are rebound per call) */
    dnnl_primitive_t p;
    int ns;
    slot s[MAX_SLOTS];
    size_t scratch_off;
    dnnl_memory_t mscratch; /* NULL when the scratchpad is empty */
    size_t ws;
} plan;

/* user tensors */
enum { U_X = 0, U_W, U_B, U_Y, U_GY, U_GX, U_GW, U_GB };

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t g_eng;
/* one stream per calling thread (a oneDNN stream is not meant to be shared) */
static _Thread_local dnnl_stream_t g_stream;
static plan **g_plans;
static int g_np, g_cap;
static int g_plain = -1;
static long g_calls;

static long g_tfwd_calls;

long ss_cpu_conv_dnnl_calls(void) { return __atomic_load_n(&g_calls, __ATOMIC_RELAXED); }
long ss_cpu_conv_tfwd_calls(void) { return __atomic_load_n(&g_tfwd_calls, __ATOMIC_RELAXED); }

void ss_cpu_conv_set_layout(int plain)
{
    pthread_mutex_lock(&g_mu);
    g_plain = plain ? 1 : 0;
    pthread_mutex_unlock(&g_mu);
}

static int layout_plain(void)
{
    if (g_plain < 0) {
        const char *e = getenv("SEMISEG_CONV_LAYOUT");
        g_plain = e && !strcmp(e, "plain");
    }
    return g_plain;
}

/* Called with g_mu held. */
static int engine(void)
{
    if (g_eng)
        return 0;
    return dnnl_engine_create(&g_eng, dnnl_cpu, 0) == dnnl_success ? 0 : -1;
}

static int stream(void)
{
    if (g_stream)
        return 0;
    return dnnl_stream_create(&g_stream, g_eng, dnnl_stream_default_flags) == dnnl_success ? 0 : -1;
}

static void plan_free(plan *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->ns; i++) {
        if (p->s[i].ro)
            dnnl_primitive_destroy(p->s[i].ro);
        if (p->s[i].mu)
            dnnl_memory_destroy(p->s[i].mu);
        if (p->s[i].mp)
            dnnl_memory_destroy(p->s[i].mp);
    }
    if (p->mscratch)
        dnnl_memory_destroy(p->mscratch);
    if (p->p)
        dnnl_primitive_destroy(p->p);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void ss_cpu_conv_cache_clear(void)
{
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < g_np; i++)
        plan_free(g_plans[i]);
    free(g_plans);
    g_plans = NULL;
    g_np = g_cap = 0;
    pthread_mutex_unlock(&g_mu);
}


/* ---- geometry ------------------------------------------------------------ */

typedef struct geo {
    int nd; /* 4 or 5 */
    dnnl_dims_t x, w, b, y, st, pl, pr;
} geo;

/* Fills oneDNN dims; returns -1 when the op's padding has no oneDNN form. */
static int make_geo(const key *k, geo *g)
{
    const int *ip = k->ip;
    int deconv = k->kind == SS_OP_DECONV;
    int two = k->x.d[2] == 1 && k->y.d[2] == 1 && k->w.d[2] == 1 && ip[0] == 1 && ip[3] == 0;
    g->nd = two ? 4 : 5;
    int j0 = two ? 1 : 0, ns = g->nd - 2;
    int Ci = k->x.d[1], Co = k->y.d[1];
    g->x[0] = k->x.d[0];
    g->x[1] = Ci;
    g->y[0] = k->y.d[0];
    g->y[1] = Co;
    g->w[0] = Co; /* oneDNN: (OC, IC, k...) for both conv and deconv */
    g->w[1] = Ci;
    g->b[0] = Co;
    for (int j = 0; j < ns; j++) {
        int jj = j0 + j;
        int I = k->x.d[2 + jj], O = k->y.d[2 + jj], kk = k->w.d[2 + jj], s = ip[jj], p = ip[3 + jj];
        g->x[2 + j] = I;
        g->y[2 + j] = O;
        g->w[2 + j] = kk;
        g->st[j] = s;
        g->pl[j] = p;
        /* conv: O = (I + pl + pr - k)/s + 1; deconv: O = (I-1)*s - pl - pr + k */
        long pr = deconv ? (long)(I - 1) * s + kk - O - p : (long)(O - 1) * s + kk - I - p;
        if (pr < 0)
            return -1;
        g->pr[j] = pr;
    }
    return 0;
}

/* ---- plan construction --------------------------------------------------- */

static int add_slot(plan *p, const dnnl_memory_desc_t *user, const dnnl_memory_desc_t *want,
                    int arg, int out, int which, size_t *top, size_t *ro_scratch)
{
    slot *s = &p->s[p->ns++];
    memset(s, 0, sizeof *s);
    s->arg = arg;
    s->out = out;
    s->which = which;
    if (dnnl_memory_create(&s->mu, user, g_eng, DNNL_MEMORY_NONE) != dnnl_success)
        return -1;
    if (dnnl_memory_desc_equal(user, want))
        return 0;
    s->reorder = 1;
    s->want = *want;
    if (dnnl_memory_create(&s->mp, want, g_eng, DNNL_MEMORY_NONE) != dnnl_success)
        return -1;
    s->off = *top;
    *top += ss_cpu_al64(dnnl_memory_desc_get_size(want));
    dnnl_primitive_attr_t at;
    if (dnnl_primitive_attr_create(&at) != dnnl_success)
        return -1;
    dnnl_primitive_attr_set_scratchpad_mode(at, dnnl_scratchpad_mode_user);
    dnnl_primitive_desc_t rpd;
    dnnl_status_t st = out ? dnnl_reorder_primitive_desc_create(&rpd, want, g_eng, user, g_eng, at)
                           : dnnl_reorder_primitive_desc_create(&rpd, user, g_eng, want, g_eng, at);
    dnnl_primitive_attr_destroy(at);
    if (st != dnnl_success)
        return -1;
    const dnnl_memory_desc_t *sm = dnnl_primitive_desc_query_md(rpd, dnnl_query_scratchpad_md, 0);
    size_t ss = sm ? dnnl_memory_desc_get_size(sm) : 0;
    if (ss > *ro_scratch)
        *ro_scratch = ss;
    st = dnnl_primitive_create(&s->ro, rpd);
    dnnl_primitive_desc_destroy(rpd);
    return st == dnnl_success ? 0 : -1;
}

static dnnl_format_tag_t plain_tag(int nd) { return nd == 4 ? dnnl_abcd : dnnl_abcde; }

/* User weight layout: conv (Co,Ci,k) = abcde; deconv stores (Ci,Co,k) = bacde. */
static dnnl_format_tag_t wtag(const key *k, int nd)
{
    if (k->kind == SS_OP_DECONV)
        return nd == 4 ? dnnl_bacd : dnnl_bacde;
    return plain_tag(nd);
}

/* Layout asked of the primitive for the activations. Convolutions whose input
 * has 1 or 16 channels and whose output has 16 ask for channels-last: for
 * those counts it is byte for byte the layout oneDNN picks by itself (plain
 * for one channel, one 16-channel block for sixteen), so no reorder changes,
 * but oneDNN then runs its brgemm forward kernel, about a quarter faster on
 * V-Net's full-resolution 16 -> 16 convolution (24.6 vs 32.4 ms fwd, weight
 * gradient 24.3 vs 27.1 ms, 2 threads). The weight gradient of convolutions
 * with 128 or more channels on both sides also asks for channels-last (its
 * own reorders of x and gy; these layers are small): oneDNN 2.6's weight-
 * gradient kernel runs faster on it than on the 16-channel blocks it picks
 * (V-Net 128 -> 128 at 8x8x6: 2.8-3.2 vs 2.9-4.4 ms; 256 -> 256 at 4x4x3:
 * 1.5-2.2 vs 2.2-2.8 ms; U-Net 128 -> 128 at 32x32, batch 8: 11.5 vs 13.1 ms;
 * 64 channels at 16x16x12 is slower, 9.5 vs 7.2 ms). Every other shape and
 * direction lets oneDNN choose. */
static dnnl_format_tag_t act_tag(const key *k, int nd)
{
    if (k->plain)
        return plain_tag(nd);
    int ci = k->x.d[1], co = k->y.d[1];
    if (k->kind == SS_OP_CONV && (ci == 1 || ci == 16) && co == 16)
        return nd == 4 ? dnnl_acdb : dnnl_acdeb;
    if (k->kind == SS_OP_CONV && (k->dir == DIR_BWD_W || k->dir == DIR_BWD_WB) && ci >= 128 &&
        co >= 128)
        return nd == 4 ? dnnl_acdb : dnnl_acdeb;
    return dnnl_format_tag_any;
}

static int op_desc_fwd(const key *k, const geo *g, const dnnl_memory_desc_t *x,
                       const dnnl_memory_desc_t *w, const dnnl_memory_desc_t *b,
                       const dnnl_memory_desc_t *y, dnnl_primitive_desc_t *pd,
                       const_dnnl_primitive_attr_t at)
{
    dnnl_status_t st;
    if (k->kind == SS_OP_CONV) {
        dnnl_convolution_desc_t d;
        st = dnnl_convolution_forward_desc_init(&d, dnnl_forward_training, dnnl_convolution_direct,
                                                x, w, b, y, g->st, g->pl, g->pr);
        if (st == dnnl_success)
            st = dnnl_primitive_desc_create(pd, &d, at, g_eng, NULL);
    } else {
        dnnl_deconvolution_desc_t d;
        st = dnnl_deconvolution_forward_desc_init(&d, dnnl_forward_training,
                                                  dnnl_deconvolution_direct, x, w, b, y, g->st,
                                                  g->pl, g->pr);
        if (st == dnnl_success)
            st = dnnl_primitive_desc_create(pd, &d, at, g_eng, NULL);
    }
    return st == dnnl_success ? 0 : -1;
}

/* Sets an eltwise ReLU (negative slope alpha) post-op on at; -1 on failure. */
static int post_relu(dnnl_primitive_attr_t at, float alpha)
{
    dnnl_post_ops_t po;
    if (dnnl_post_ops_create(&po) != dnnl_success)
        return -1;
    int bad = dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, alpha, 0.f) != dnnl_success ||
              dnnl_primitive_attr_set_post_ops(at, po) != dnnl_success;
    dnnl_post_ops_destroy(po);
    return bad ? -1 : 0;
}

static plan *plan_build(const key *k)
{
    plan *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->k = *k;
    pthread_mutex_init(&p->mu, NULL);
    geo g;
    if (engine() != 0 || make_geo(k, &g) != 0)
        return p; /* ok = 0: reference */
    int nd = g.nd;
    dnnl_format_tag_t dt = act_tag(k, nd);
    dnnl_memory_desc_t ux, uw, ub, uy, ax, aw, ab, ay;
    dnnl_dims_t bd = {g.b[0]};
    int has_b = k->n_in == 3 && k->dir != DIR_BWD_DATA && k->dir != DIR_BWD_W;
    if (dnnl_memory_desc_init_by_tag(&ux, nd, g.x, dnnl_f32, plain_tag(nd)) ||
        dnnl_memory_desc_init_by_tag(&uw, nd, g.w, dnnl_f32, wtag(k, nd)) ||
        dnnl_memory_desc_init_by_tag(&ub, 1, bd, dnnl_f32, dnnl_a) ||
        dnnl_memory_desc_init_by_tag(&uy, nd, g.y, dnnl_f32, plain_tag(nd)) ||
        dnnl_memory_desc_init_by_tag(&ax, nd, g.x, dnnl_f32, dt) ||
        dnnl_memory_desc_init_by_tag(&aw, nd, g.w, dnnl_f32,
                                     k->plain ? wtag(k, nd) : dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&ab, 1, bd, dnnl_f32, dnnl_a) ||
        dnnl_memory_desc_init_by_tag(&ay, nd, g.y, dnnl_f32, dt))
        return p;
    dnnl_primitive_attr_t at;
    if (dnnl_primitive_attr_create(&at) != dnnl_success)
        return p;
    dnnl_primitive_attr_set_scratchpad_mode(at, dnnl_scratchpad_mode_user);
    if (k->post && (k->dir != DIR_FWD || post_relu(at, k->post_alpha) != 0)) {
        dnnl_primitive_attr_destroy(at);
        return p; /* ok = 0 */
    }
    dnnl_primitive_desc_t hint = NULL, pd = NULL;
    int fail = 0;
    int fwd_bias = k->n_in == 3;
    if (op_desc_fwd(k, &g, &ax, &aw, fwd_bias ? &ab : NULL, &ay, &hint,
                    k->dir == DIR_FWD ? at : NULL) != 0) {
        fail = 1;
    } else if (k->dir == DIR_FWD) {
        pd = hint;
        hint = NULL;
    } else if (k->dir == DIR_BWD_DATA) {
        dnnl_status_t st;
        if (k->kind == SS_OP_CONV) {
            dnnl_convolution_desc_t d;
            st = dnnl_convolution_backward_data_desc_init(&d, dnnl_convolution_direct, &ax, &aw,
                                                          &ay, g.st, g.pl, g.pr);
            if (!st)
                st = dnnl_primitive_desc_create(&pd, &d, at, g_eng, hint);
        } else {
            dnnl_deconvolution_desc_t d;
            st = dnnl_deconvolution_backward_data_desc_init(&d, dnnl_deconvolution_direct, &ax,
                                                            &aw, &ay, g.st, g.pl, g.pr);
            if (!st)
                st = dnnl_primitive_desc_create(&pd, &d, at, g_eng, hint);
        }
        fail = st != dnnl_success;
    } else {
        dnnl_status_t st;
        const dnnl_memory_desc_t *bb = k->dir == DIR_BWD_WB ? &ab : NULL;
        if (k->kind == SS_OP_CONV) {
            dnnl_convolution_desc_t d;
            st = dnnl_convolution_backward_weights_desc_init(&d, dnnl_convolution_direct, &ax, &aw,
                                                             bb, &ay, g.st, g.pl, g.pr);
            if (!st)
                st = dnnl_primitive_desc_create(&pd, &d, at, g_eng, hint);
        } else {
            dnnl_deconvolution_desc_t d;
            st = dnnl_deconvolution_backward_weights_desc_init(&d, dnnl_deconvolution_direct, &ax,
                                                               &aw, bb, &ay, g.st, g.pl, g.pr);
            if (!st)
                st = dnnl_primitive_desc_create(&pd, &d, at, g_eng, hint);
        }
        fail = st != dnnl_success;
    }
    dnnl_primitive_attr_destroy(at);
    if (hint)
        dnnl_primitive_desc_destroy(hint);
    if (fail) {
        if (pd)
            dnnl_primitive_desc_destroy(pd);
        return p;
    }
    size_t top = 0, ro_scr = 0;
#define Q(what, idx) dnnl_primitive_desc_query_md(pd, what, idx)
    int rc = 0;
    if (k->dir == DIR_FWD) {
        rc |= add_slot(p, &ux, Q(dnnl_query_src_md, 0), DNNL_ARG_SRC, 0, U_X, &top, &ro_scr);
        rc |= add_slot(p, &uw, Q(dnnl_query_weights_md, 0), DNNL_ARG_WEIGHTS, 0, U_W, &top, &ro_scr);
        if (has_b)
            rc |= add_slot(p, &ub, Q(dnnl_query_weights_md, 1), DNNL_ARG_BIAS, 0, U_B, &top, &ro_scr);
        rc |= add_slot(p, &uy, Q(dnnl_query_dst_md, 0), DNNL_ARG_DST, 1, U_Y, &top, &ro_scr);
    } else if (k->dir == DIR_BWD_DATA) {
        rc |= add_slot(p, &uy, Q(dnnl_query_diff_dst_md, 0), DNNL_ARG_DIFF_DST, 0, U_GY, &top, &ro_scr);
        rc |= add_slot(p, &uw, Q(dnnl_query_weights_md, 0), DNNL_ARG_WEIGHTS, 0, U_W, &top, &ro_scr);
        rc |= add_slot(p, &ux, Q(dnnl_query_diff_src_md, 0), DNNL_ARG_DIFF_SRC, 1, U_GX, &top, &ro_scr);
    } else {
        /* diff_dst first, at offset 0 as in backward-data, so that a reordered
         * gy can be shared (see bwd_any) */
        rc |= add_slot(p, &uy, Q(dnnl_query_diff_dst_md, 0), DNNL_ARG_DIFF_DST, 0, U_GY, &top, &ro_scr);
        rc |= add_slot(p, &ux, Q(dnnl_query_src_md, 0), DNNL_ARG_SRC, 0, U_X, &top, &ro_scr);
        rc |= add_slot(p, &uw, Q(dnnl_query_diff_weights_md, 0), DNNL_ARG_DIFF_WEIGHTS, 1, U_GW, &top, &ro_scr);
        if (k->dir == DIR_BWD_WB)
            rc |= add_slot(p, &ub, Q(dnnl_query_diff_weights_md, 1), DNNL_ARG_DIFF_BIAS, 1, U_GB, &top, &ro_scr);
    }
    const dnnl_memory_desc_t *sm = Q(dnnl_query_scratchpad_md, 0);
#undef Q
    size_t ss = sm ? dnnl_memory_desc_get_size(sm) : 0;
    if (!rc && ss > 0)
        rc |= dnnl_memory_create(&p->mscratch, sm, g_eng, DNNL_MEMORY_NONE) != dnnl_success;
    if (!rc)
        rc |= dnnl_primitive_create(&p->p, pd) != dnnl_success;
    dnnl_primitive_desc_destroy(pd);
    if (rc) {
        key kk = p->k;
        plan_free(p);
        p = calloc(1, sizeof *p);
        if (p) {
            p->k = kk;
            pthread_mutex_init(&p->mu, NULL);
        }
        return p;
    }
    p->scratch_off = top;
    /* reorders run before or after the primitive, so they share its scratchpad */
    top += ss_cpu_al64(ss > ro_scr ? ss : ro_scr);
    p->ws = top;
    p->ok = 1;
    return p;
}

static plan *plan_get(const key *k)
{
    pthread_mutex_lock(&g_mu);
    plan *p = NULL;
    for (int i = 0; i < g_np; i++)
        if (!memcmp(&g_plans[i]->k, k, sizeof *k)) {
            p = g_plans[i];
            break;
        }
    if (!p) {
        if (g_np == g_cap) {
            int cap = g_cap ? 2 * g_cap : 32;
            plan **np = realloc(g_plans, (size_t)cap * sizeof *np);
            if (!np) {
                pthread_mutex_unlock(&g_mu);
                return NULL;
            }
            g_plans = np;
            g_cap = cap;
        }
        p = plan_build(k);
        if (p)
            g_plans[g_np++] = p;
    }
    pthread_mutex_unlock(&g_mu);
    return p;
}

static void make_key(const ss_op_args *a, int dir, key *k)
{
    memset(k, 0, sizeof *k); /* padding bytes take part in memcmp */
    k->kind = a->kind;
    k->dir = dir;
    k->n_in = a->n_in;
    k->plain = layout_plain();
    k->x = a->xs[0];
    k->w = a->xs[1];
    k->y = a->ys[0];
    int nip = a->kind == SS_OP_DECONV ? 9 : 6;
    for (int i = 0; i < nip; i++)
        k->ip[i] = a->ip[i];
}

static plan *get(const ss_op_args *a, int dir)
{
    key k;
    make_key(a, dir, &k);
    return plan_get(&k);
}

/* ---- execution ------------------------------------------------------------ */

static void *user_ptr(const ss_op_args *a, int which)
{
    switch (which) {
    case U_X: return a->x[0];
    case U_W: return a->x[1];
    case U_B: return a->x[2];
    case U_Y: return a->y[0];
    case U_GY: return a->gy[0];
    case U_GX: return a->gx[0];
    case U_GW: return a->gx[1];
    default: return a->gx[2];
    }
}

/* gy_ready: the primitive-layout copy of gy is already in the workspace. */
static int exec(const plan *p, const ss_op_args *a, int gy_ready)
{
    char *ws = a->ws;
    dnnl_exec_arg_t args[MAX_SLOTS + 1];
    int na = 0;
    for (int i = 0; i < p->ns; i++) {
        const slot *s = &p->s[i];
        if (dnnl_memory_set_data_handle(s->mu, user_ptr(a, s->which)) != dnnl_success)
            return -1;
        if (!s->reorder) {
            args[na++] = (dnnl_exec_arg_t){s->arg, s->mu};
            continue;
        }
        if (dnnl_memory_set_data_handle(s->mp, ws + s->off) != dnnl_success)
            return -1;
        args[na++] = (dnnl_exec_arg_t){s->arg, s->mp};
    }
    if (p->mscratch) {
        if (dnnl_memory_set_data_handle(p->mscratch, ws + p->scratch_off) != dnnl_success)
            return -1;
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->mscratch};
    }
    for (int i = 0; i < p->ns; i++) {
        const slot *s = &p->s[i];
        if (!s->reorder || s->out || (gy_ready && s->which == U_GY))
            continue;
        dnnl_exec_arg_t ra[3] = {{DNNL_ARG_FROM, s->mu}, {DNNL_ARG_TO, s->mp}};
        int nr = 2;
        if (p->mscratch)
            ra[nr++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->mscratch};
        if (dnnl_primitive_execute(s->ro, g_stream, nr, ra) != dnnl_success)
            return -1;
    }
    if (dnnl_primitive_execute(p->p, g_stream, na, args) != dnnl_success)
        return -1;
    for (int i = 0; i < p->ns; i++) {
        const slot *s = &p->s[i];
        if (!s->reorder || !s->out)
            continue;
        dnnl_exec_arg_t ra[3] = {{DNNL_ARG_FROM, s->mp}, {DNNL_ARG_TO, s->mu}};
        int nr = 2;
        if (p->mscratch)
            ra[nr++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->mscratch};
        if (dnnl_primitive_execute(s->ro, g_stream, nr, ra) != dnnl_success)
            return -1;
    }
    return dnnl_stream_wait(g_stream) == dnnl_success ? 0 : -1;
}

/* Runs plan p when it exists and fits the workspace; 1 when it did not run. */
static int try_run(const plan *p, const ss_op_args *a, int gy_ready, int *rc)
{
    if (!p || !p->ok || (p->ws && (!a->ws || a->ws_size < p->ws)) || stream() != 0)
        return 1;
    __atomic_add_fetch(&g_calls, 1, __ATOMIC_RELAXED);
    pthread_mutex_lock((pthread_mutex_t *)&p->mu);
    int e = exec(p, a, gy_ready);
    pthread_mutex_unlock((pthread_mutex_t *)&p->mu);
    *rc = e == 0 ? SS_OK
                          : ss_op_err(ss_op_name(a->kind), a->n_in, a->xs, "oneDNN execution failed");
    return 0;
}

/* ---- 1x1x1 convolutions: plain-layout GEMMs (no reorders, no padding of a
 * small channel count to a vector block) ---------------------------------- */

static int pointwise(const ss_op_args *a)
{
    if (a->kind != SS_OP_CONV)
        return 0;
    for (int j = 0; j < 3; j++)
        if (a->xs[1].d[2 + j] != 1 || a->ip[j] != 1 || a->ip[3 + j] != 0)
            return 0;
    return 1;
}

static int sgemm_ok(dnnl_status_t st, const ss_op_args *a)
{
    if (st == dnnl_success)
        return SS_OK;
    return ss_op_err(ss_op_name(a->kind), a->n_in, a->xs, "oneDNN sgemm failed (status %d)", (int)st);
}

static int pw_fwd(const ss_op_args *a)
{
    const int N = a->xs[0].d[0], Ci = a->xs[0].d[1], Co = a->ys[0].d[1];
    const int64_t S = ss_spatial(&a->xs[0]);
    __atomic_add_fetch(&g_calls, 1, __ATOMIC_RELAXED);
    for (int n = 0; n < N; n++) {
        dnnl_status_t st = dnnl_sgemm('N', 'N', Co, S, Ci, 1.f, a->x[1], Ci, a->x[0] + (int64_t)n * Ci * S,
                                      S, 0.f, a->y[0] + (int64_t)n * Co * S, S);
        if (st != dnnl_success)
            return sgemm_ok(st, a);
    }
    if (a->n_in == 3) {
        const float *b = a->x[2];
        float *y = a->y[0];
#pragma omp parallel for collapse(2) schedule(static)
        for (int n = 0; n < N; n++)
            for (int c = 0; c < Co; c++) {
                float *yp = y + ((int64_t)n * Co + c) * S;
                for (int64_t j = 0; j < S; j++)
                    yp[j] += b[c];
            }
    }
    return SS_OK;
}

static int pw_bwd(const ss_op_args *a)
{
    const int N = a->xs[0].d[0], Ci = a->xs[0].d[1], Co = a->ys[0].d[1];
    const int64_t S = ss_spatial(&a->xs[0]);
    const float *gy = a->gy[0];
    __atomic_add_fetch(&g_calls, (a->gx[0] != NULL) + (a->gx[1] != NULL), __ATOMIC_RELAXED);
    for (int n = 0; n < N; n++) {
        const float *g = gy + (int64_t)n * Co * S, *x = a->x[0] + (int64_t)n * Ci * S;
        dnnl_status_t st = dnnl_success;
        if (a->gx[0])
            st = dnnl_sgemm('T', 'N', Ci, S, Co, 1.f, a->x[1], Ci, g, S, 0.f,
                            a->gx[0] + (int64_t)n * Ci * S, S);
        if (st == dnnl_success && a->gx[1])
            st = dnnl_sgemm('N', 'T', Co, Ci, S, 1.f, g, S, x, S, n ? 1.f : 0.f, a->gx[1], Ci);
        if (st != dnnl_success)
            return sgemm_ok(st, a);
    }
    if (a->n_in == 3 && a->gx[2]) {
        float *db = a->gx[2];
#pragma omp parallel for schedule(static)
        for (int c = 0; c < Co; c++) {
            double acc = 0;
            for (int n = 0; n < N; n++) {
                const float *p = gy + ((int64_t)n * Co + c) * S;
                for (int64_t j = 0; j < S; j++)
                    acc += p[j];
            }
            db[c] = (float)acc;
        }
    }
    return SS_OK;
}

/* ---- backward-data of stride-1 16 -> 16 convolutions as a forward
 * convolution: gx = conv(gy, w~) with w~[ci][co][a][b][c] =
 * w[co][ci][kD-1-a][kH-1-b][kW-1-c] and padding k-1-p on each side. The
 * forward runs oneDNN's brgemm kernel on these channels-last shapes, faster
 * than its backward-data kernel (V-Net full resolution 24.6 vs 31.3 ms, 2-D
 * 256x256 batch 8: 12.3 vs 15.0 ms); w~ lives in the workspace after the
 * plan's own part. --------------------------------------------------------- */

typedef struct tfwd {
    ss_op_args a; /* the forward convolution's arguments */
    int ip[6];
    size_t wt_off; /* workspace offset of w~ */
} tfwd;

/* (the 1x1x1 and kernel == stride shapes never get here: both callers send
 * them to their GEMMs first) */
static int tfwd_match(const ss_op_args *a)
{
    if (a->kind != SS_OP_CONV || layout_plain() || a->xs[0].d[1] != 16 || a->ys[0].d[1] != 16)
        return 0;
    for (int j = 0; j < 3; j++)
        if (a->ip[j] != 1 || a->ip[3 + j] > a->xs[1].d[2 + j] - 1)
            return 0;
    return 1;
}

/* The plan of the forward convolution (NULL when a has no such form); fills
 * t with its arguments, w~ not yet written. */
static plan *tfwd_plan(const ss_op_args *a, tfwd *t)
{
    t->a = *a;
    for (int j = 0; j < 3; j++) {
        t->ip[j] = 1;
        t->ip[3 + j] = a->xs[1].d[2 + j] - 1 - a->ip[3 + j];
    }
    t->a.ip = t->ip;
    t->a.n_in = 2;
    t->a.xs[0] = a->ys[0];
    t->a.xs[1] = ss_shape5(a->xs[1].d[1], a->xs[1].d[0], a->xs[1].d[2], a->xs[1].d[3], a->xs[1].d[4]);
    t->a.ys[0] = a->xs[0];
    plan *p = get(&t->a, DIR_FWD);
    if (!p || !p->ok)
        return NULL;
    t->wt_off = ss_cpu_al64(p->ws);
    return p;
}

/* the workspace the transposed forward needs: the plan's part, then w~ */
static size_t tfwd_ws(const tfwd *t)
{
    return t->wt_off + ss_cpu_al64((size_t)ss_numel(&t->a.xs[1]) * sizeof(float));
}

/* Points t at gy, w~ (written here) and gx. */
static void tfwd_bind(const ss_op_args *a, tfwd *t)
{
    const int Co = a->xs[1].d[0], Ci = a->xs[1].d[1];
    const int kd = a->xs[1].d[2], kh = a->xs[1].d[3], kw = a->xs[1].d[4];
    const int K = kd * kh * kw;
    const float *w = a->x[1];
    float *wt = (float *)((char *)a->ws + t->wt_off);
    for (int co = 0; co < Co; co++)
        for (int ci = 0; ci < Ci; ci++) {
            const float *src = w + ((size_t)co * Ci + ci) * K;
            float *dst = wt + ((size_t)ci * Co + co) * K;
            for (int i = 0; i < K; i++)
                dst[K - 1 - i] = src[i];
        }
    t->a.x[0] = a->gy[0];
    t->a.x[1] = wt;
    t->a.y[0] = a->gx[0];
}

static int fwd_any(const ss_op_args *a)
{
    int rc;
    if (pointwise(a))
        return pw_fwd(a);
    if (ss_cpu_conv_s2_match(a) && !ss_cpu_conv_s2_fwd(a, &rc))
        return rc;
    if (ss_cpu_conv_c1_match(a) && !ss_cpu_conv_c1_fwd(a))
        return SS_OK;
    if (ss_cpu_conv_wg_match(a, 0) && !ss_cpu_conv_wg_fwd(a))
        return SS_OK;
    if (try_run(get(a, DIR_FWD), a, 0, &rc))
        return ss_op_get(a->kind)->fwd(a);
    return rc;
}

static int bwd_any(const ss_op_args *a)
{
    const ss_op_desc *d = ss_op_get(a->kind);
    if (!a->gy[0])
        return d->bwd(a);
    if (pointwise(a))
        return pw_bwd(a);
    int rc = SS_OK;
    if (ss_cpu_conv_s2_match(a) && !ss_cpu_conv_s2_bwd(a, &rc))
        return rc;
    if (!a->gx[0] && ss_cpu_conv_c1_match(a) && !ss_cpu_conv_c1_bwd(a))
        return SS_OK;
    if (ss_cpu_conv_wg_match(a, 1) && !ss_cpu_conv_wg_bwd(a))
        return SS_OK;
    int want_b = a->n_in == 3 && a->gx[2];
    if (want_b && !a->gx[1])
        return d->bwd(a);
    tfwd t;
    plan *pt = a->gx[0] && tfwd_match(a) ? tfwd_plan(a, &t) : NULL;
    plan *pd = pt ? pt : a->gx[0] ? get(a, DIR_BWD_DATA) : NULL;
    plan *pw = a->gx[1] ? get(a, want_b ? DIR_BWD_WB : DIR_BWD_W) : NULL;
    size_t need_d = pt ? tfwd_ws(&t) : pd ? pd->ws : 0;
    int fits_d = !a->gx[0] || (pd && pd->ok && need_d <= a->ws_size);
    int fits_w = !a->gx[1] || (pw && pw->ok && pw->ws <= a->ws_size);
    if (!fits_d || !fits_w)
        return d->bwd(a);
    /* both reorder gy (the transposed forward's x) into the same layout at
     * offset 0: reorder once */
    int share = pd && pw && pd->s[0].which == (pt ? U_X : U_GY) && pw->s[0].which == U_GY &&
                pd->s[0].reorder && pw->s[0].reorder && pd->s[0].off == 0 && pw->s[0].off == 0 &&
                dnnl_memory_desc_equal(&pd->s[0].want, &pw->s[0].want);
    if (pt)
        tfwd_bind(a, &t);
    if (pd && try_run(pd, pt ? &t.a : a, 0, &rc))
        return d->bwd(a);
    if (pt)
        __atomic_add_fetch(&g_tfwd_calls, 1, __ATOMIC_RELAXED);
    if (rc != SS_OK)
        return rc;
    if (pw && try_run(pw, a, share, &rc))
        return d->bwd(a);
    return rc;
}

int ss_cpu_conv_fwd(const ss_op_args *a) { return fwd_any(a); }
int ss_cpu_conv_bwd(const ss_op_args *a) { return bwd_any(a); }
int ss_cpu_deconv_fwd(const ss_op_args *a) { return fwd_any(a); }
int ss_cpu_deconv_bwd(const ss_op_args *a) { return bwd_any(a); }

static size_t dnnl_ws(const ss_op_args *a, int bwd);

size_t ss_cpu_conv_ws(const ss_op_args *a, int bwd)
{
    if (pointwise(a))
        return 0;
    if (ss_cpu_conv_s2_match(a))
        return ss_cpu_conv_s2_ws(a, bwd);
    if (ss_cpu_conv_wg_match(a, bwd))
        return ss_cpu_conv_wg_ws(a, bwd);
    size_t w = dnnl_ws(a, bwd), c1 = ss_cpu_conv_c1_ws(a, bwd);
    return c1 > w ? c1 : w;
}

/* what the oneDNN plans of the call need */
static size_t dnnl_ws(const ss_op_args *a, int bwd)
{
    if (!bwd) {
        plan *p = get(a, DIR_FWD);
        return p && p->ok ? p->ws : 0;
    }
    tfwd t;
    plan *pt = tfwd_match(a) ? tfwd_plan(a, &t) : NULL;
    plan *pd = pt ? NULL : get(a, DIR_BWD_DATA);
    plan *pw = get(a, a->n_in == 3 ? DIR_BWD_WB : DIR_BWD_W);
    plan *pw2 = a->n_in == 3 ? get(a, DIR_BWD_W) : NULL;
    size_t w = pt ? tfwd_ws(&t) : 0;
    if (pd && pd->ok && pd->ws > w)
        w = pd->ws;
    if (pw && pw->ok && pw->ws > w)
        w = pw->ws;
    if (pw2 && pw2->ok && pw2->ws > w)
        w = pw2->ws;
    return w;
}

/* ---- forward with a fused ReLU / LeakyReLU post-op (CONV_BN_ACT,
 * kernels/cpu/fast_fused.c). Only CONV through the oneDNN primitive: DECONV,
 * the 1x1x1 and kernel == stride GEMM shapes and shapes without a plan report
 * "not handled" and the caller applies the activation itself. -------------- */

static plan *get_relu(const ss_op_args *a, float slope)
{
    key k;
    make_key(a, DIR_FWD, &k);
    k.post = 1;
    k.post_alpha = slope;
    return plan_get(&k);
}

/* DECONV is left out: oneDNN 2.6 applies a deconvolution's post-ops in a
 * separate reference loop (30x slower than the primitive here); so are the
 * shapes fwd_any sends to the 1x1x1 and kernel == stride GEMMs. */
static int relu_handled(const ss_op_args *a)
{
    return a->kind == SS_OP_CONV && !pointwise(a) && !ss_cpu_conv_s2_match(a);
}

int ss_cpu_conv_fwd_relu(const ss_op_args *a, float slope, int *rc)
{
    if (!relu_handled(a))
        return 1;
    return try_run(get_relu(a, slope), a, 0, rc);
}

int ss_cpu_conv_ws_relu(const ss_op_args *a, float slope, size_t *ws)
{
    *ws = 0;
    if (!relu_handled(a))
        return -1;
    plan *p = get_relu(a, slope);
    if (!p || !p->ok)
        return -1;
    *ws = p->ws;
    return 0;
}
