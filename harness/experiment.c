/* Layered INI experiment specs (see experiment.h). */
#include "experiment.h"

#include "kernels/error.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 64
#define VAL_MAX 256
#define ORIGIN_MAX 160
#define TAG_MAX 8

typedef struct spec_entry {
    char key[KEY_MAX];
    char *value; /* NULL: unset */
    char origin[ORIGIN_MAX];
} spec_entry;

struct ss_spec {
    spec_entry *e;
    int n, cap;
    char tags[TAG_MAX][32];
    int ntags;
};

/* The core keys every run understands (meaning in README/docs and train.h). */
static const char *const core_keys[] = {
    "data.patch", "data.batch", "data.labeled_bs", "data.workers", "data.prefetch", "data.cache",
    "model.name", "model.dropout",
    "train.iterations", "train.optimizer", "train.lr", "train.momentum", "train.weight_decay",
    "train.beta1", "train.beta2", "train.eps", "train.schedule", "train.step_size", "train.gamma",
    "train.power", "train.warmup_iters", "train.warmup_start", "train.seed",
    "train.checkpoint_every", "train.log_every", "train.backend",
    "eval.every", "eval.start", "eval.stride", "eval.batch", "eval.split", "eval.lcc",
    "run.method", "run.dataset", "run.labeled", "run.seed", "run.profile", "run.data_root",
    NULL,
};

static spec_entry *find(const ss_spec *s, const char *key)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->e[i].key, key))
            return &s->e[i];
    return NULL;
}

int ss_spec_declare(ss_spec *s, const char *key)
{
    if (find(s, key))
        return SS_OK;
    if (strlen(key) >= KEY_MAX || !strchr(key, '.'))
        return ss_seterr("spec: key '%s' must be 'section.name' (under %d characters)", key,
                         KEY_MAX);
    if (s->n == s->cap) {
        int nc = s->cap ? 2 * s->cap : 64;
        spec_entry *ne = realloc(s->e, (size_t)nc * sizeof *ne);
        if (!ne)
            return ss_seterr("spec: out of memory");
        s->e = ne;
        s->cap = nc;
    }
    spec_entry *e = &s->e[s->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->key, sizeof e->key, "%s", key);
    return SS_OK;
}

int ss_spec_known(const ss_spec *s, const char *key) { return find(s, key) != NULL; }

ss_spec *ss_spec_new(void)
{
    ss_spec *s = calloc(1, sizeof *s);
    if (!s) {
        ss_seterr("spec: out of memory");
        return NULL;
    }
    for (int i = 0; core_keys[i]; i++)
        if (ss_spec_declare(s, core_keys[i])) {
            ss_spec_free(s);
            return NULL;
        }
    return s;
}

void ss_spec_free(ss_spec *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        free(s->e[i].value);
    free(s->e);
    free(s);
}

int ss_spec_set_tags(ss_spec *s, int n, const char *const *tags)
{
    if (n < 0 || n > TAG_MAX)
        return ss_seterr("spec: at most %d tags", TAG_MAX);
    s->ntags = n;
    for (int i = 0; i < n; i++)
        snprintf(s->tags[i], sizeof s->tags[i], "%s", tags[i]);
    return SS_OK;
}

int ss_spec_set(ss_spec *s, const char *key, const char *value, const char *origin)
{
    spec_entry *e = find(s, key);
    if (!e)
        return ss_seterr("spec: unknown key '%s' (from %s)", key, origin);
    if (strlen(value) >= VAL_MAX)
        return ss_seterr("spec: value of '%s' is too long (from %s)", key, origin);
    char *v = strdup(value);
    if (!v)
        return ss_seterr("spec: out of memory");
    free(e->value);
    e->value = v;
    snprintf(e->origin, sizeof e->origin, "%s", origin);
    return SS_OK;
}

typedef struct layer_ctx {
    ss_spec *s;
    const char *origin;
    int flags;
    int failed;
    char nosection[KEY_MAX];
} layer_ctx;

/* Section name without its tag; 1 when the section applies. */
static int section_applies(const ss_spec *s, const char *section, char *base, size_t len)
{
    const char *colon = strchr(section, ':');
    size_t bl = colon ? (size_t)(colon - section) : strlen(section);
    if (bl >= len)
        bl = len - 1;
    memcpy(base, section, bl);
    base[bl] = '\0';
    if (!colon)
        return 1;
    for (int i = 0; i < s->ntags; i++)
        if (!strcmp(colon + 1, s->tags[i]))
            return 1;
    return 0;
}

static int on_kv(void *user, const char *section, const char *name, const char *value)
{
    layer_ctx *c = user;
    if (c->failed)
        return 0;
    char base[KEY_MAX], key[2 * KEY_MAX];
    if (!section[0]) { /* reported after parsing, unless a syntax error explains it */
        if (!c->nosection[0])
            snprintf(c->nosection, sizeof c->nosection, "%s", name);
        return 1;
    }
    if (!section_applies(c->s, section, base, sizeof base))
        return 1;
    int is_method = !strcmp(base, "method");
    if (is_method && (c->flags & SS_SPEC_NO_METHOD))
        return 1;
    snprintf(key, sizeof key, "%s.%s", base, name);
    if (is_method && (c->flags & SS_SPEC_DECLARE) && ss_spec_declare(c->s, key)) {
        c->failed = 1;
        return 0;
    }
    if (ss_spec_set(c->s, key, value, c->origin)) {
        c->failed = 1;
        return 0;
    }
    return 1;
}

int ss_spec_layer(ss_spec *s, const char *text, const char *origin, int flags)
{
    layer_ctx c = {s, origin, flags, 0, ""};
    ss_clearerr();
    int rc = ini_parse_string(text, on_kv, &c);
    if (c.failed)
        return SS_ERR;
    if (rc > 0)
        return ss_seterr("spec: %s: cannot parse line %d (expected [section] or key = value)",
                         origin, rc);
    if (c.nosection[0])
        return ss_seterr("spec: key '%s' outside a section (from %s)", c.nosection, origin);
    if (rc < 0)
        return ss_seterr("spec: %s: cannot be parsed (out of memory)", origin);
    return SS_OK;
}

int ss_spec_assign(ss_spec *s, const char *assignment, const char *origin)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return ss_seterr("spec: '%s' (from %s) is not section.key=value", assignment, origin);
    char key[2 * KEY_MAX];
    size_t kl = (size_t)(eq - assignment);
    while (kl > 0 && (assignment[kl - 1] == ' ' || assignment[kl - 1] == '\t'))
        kl--;
    if (kl >= sizeof key)
        return ss_seterr("spec: key in '%s' (from %s) is too long", assignment, origin);
    memcpy(key, assignment, kl);
    key[kl] = '\0';
    const char *v = eq + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    return ss_spec_set(s, key, v, origin);
}

const char *ss_spec_get(const ss_spec *s, const char *key)
{
    spec_entry *e = find(s, key);
    return e ? e->value : NULL;
}

const char *ss_spec_origin(const ss_spec *s, const char *key)
{
    spec_entry *e = find(s, key);
    return e && e->value ? e->origin : NULL;
}

int ss_spec_str(const ss_spec *s, const char *key, const char **out)
{
    spec_entry *e = find(s, key);
    if (!e)
        return ss_seterr("spec: unknown key '%s' asked for", key);
    if (!e->value)
        return ss_seterr("spec: '%s' is not set by any layer (give it with --set %s=...)", key, key);
    *out = e->value;
    return SS_OK;
}

static int bad_value(const ss_spec *s, const char *key, const char *what)
{
    return ss_seterr("spec: %s = '%s' (from %s) is not %s", key, ss_spec_get(s, key),
                     ss_spec_origin(s, key), what);
}

int ss_spec_long(const ss_spec *s, const char *key, long *out)
{
    const char *v;
    if (ss_spec_str(s, key, &v))
        return SS_ERR;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end)
        return bad_value(s, key, "an integer");
    *out = x;
    return SS_OK;
}

int ss_spec_int(const ss_spec *s, const char *key, int *out)
{
    long x;
    if (ss_spec_long(s, key, &x))
        return SS_ERR;
    if (x < -2147483647L || x > 2147483647L)
        return bad_value(s, key, "a 32-bit integer");
    *out = (int)x;
    return SS_OK;
}

int ss_spec_double(const ss_spec *s, const char *key, double *out)
{
    const char *v;
    if (ss_spec_str(s, key, &v))
        return SS_ERR;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end)
        return bad_value(s, key, "a number");
    *out = x;
    return SS_OK;
}

int ss_spec_int3(const ss_spec *s, const char *key, int out[3])
{
    const char *v;
    if (ss_spec_str(s, key, &v))
        return SS_ERR;
    const char *p = v;
    for (int i = 0; i < 3; i++) {
        while (*p == ' ' || *p == ',' || *p == 'x')
            p++;
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (errno || end == p || x < 1 || x > 100000)
            return bad_value(s, key, "three positive integers 'D,H,W'");
        out[i] = (int)x;
        p = end;
    }
    while (*p == ' ')
        p++;
    if (*p)
        return bad_value(s, key, "three positive integers 'D,H,W'");
    return SS_OK;
}

int ss_spec_long_or(const ss_spec *s, const char *key, long dflt, long *out)
{
    if (!ss_spec_get(s, key)) {
        if (!ss_spec_known(s, key))
            return ss_seterr("spec: unknown key '%s' asked for", key);
        *out = dflt;
        return SS_OK;
    }
    return ss_spec_long(s, key, out);
}

int ss_spec_double_or(const ss_spec *s, const char *key, double dflt, double *out)
{
    if (!ss_spec_get(s, key)) {
        if (!ss_spec_known(s, key))
            return ss_seterr("spec: unknown key '%s' asked for", key);
        *out = dflt;
        return SS_OK;
    }
    return ss_spec_double(s, key, out);
}

char *ss_spec_text(const ss_spec *s)
{
    size_t cap = 256;
    for (int i = 0; i < s->n; i++)
        cap += KEY_MAX + VAL_MAX + ORIGIN_MAX + 16;
    char *buf = malloc(cap);
    if (!buf) {
        ss_seterr("spec: out of memory");
        return NULL;
    }
    size_t o = (size_t)snprintf(buf, cap, "; resolved experiment spec (value ; layer it came from)\n");
    /* sections in first-declaration order */
    char done[64][KEY_MAX];
    int nd = 0;
    for (int i = 0; i < s->n; i++) {
        const char *dot = strchr(s->e[i].key, '.');
        size_t sl = (size_t)(dot - s->e[i].key);
        char sec[KEY_MAX];
        memcpy(sec, s->e[i].key, sl);
        sec[sl] = '\0';
        int seen = 0;
        for (int k = 0; k < nd; k++)
            seen |= !strcmp(done[k], sec);
        if (seen || nd == 64)
            continue;
        snprintf(done[nd++], KEY_MAX, "%s", sec);
        int any = 0;
        for (int j = i; j < s->n; j++) {
            if (!s->e[j].value || strncmp(s->e[j].key, sec, sl) || s->e[j].key[sl] != '.')
                continue;
            if (!any++)
                o += (size_t)snprintf(buf + o, cap - o, "\n[%s]\n", sec);
            o += (size_t)snprintf(buf + o, cap - o, "%s = %s  ; %s\n", s->e[j].key + sl + 1,
                                  s->e[j].value, s->e[j].origin);
        }
    }
    return buf;
}

int ss_spec_write(const ss_spec *s, const char *path)
{
    char *t = ss_spec_text(s);
    if (!t)
        return SS_ERR;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        free(t);
        return ss_seterr("spec: cannot write %s", tmp);
    }
    int ok = fputs(t, f) >= 0;
    ok &= fclose(f) == 0;
    free(t);
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return ss_seterr("spec: cannot write %s", path);
    }
    return SS_OK;
}
