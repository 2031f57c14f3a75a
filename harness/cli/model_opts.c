/* Model options and weights-file checks shared by `semiseg export`, `forward` and `eval`. */
#include "model_opts.h"

#include "kernels/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const NORMS[] = {"none", "batch", "instance", "group"}; /* ss_norm order */

static int parse_int(const char *cmd, const char *opt, const char *s, int lo, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > 1000000) {
        fprintf(stderr, "%s: %s wants an integer >= %d, got '%s'\n", cmd, opt, lo, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* "DxHxW" or "HxW" (D = 1) into p; -1 with a message. */
static int parse_patch(const char *cmd, const char *s, int p[3])
{
    int v[3], n = 0;
    const char *c = s;
    while (n < 3) {
        char *end;
        errno = 0;
        long x = strtol(c, &end, 10);
        if (errno || end == c || x < 1 || x > 100000)
            break;
        v[n++] = (int)x;
        if (*end == '\0') {
            c = end;
            break;
        }
        if (*end != 'x' && *end != 'X')
            break;
        c = end + 1;
    }
    if ((n != 2 && n != 3) || *c) {
        fprintf(stderr, "%s: --patch wants DxHxW (or HxW for 2-D models), got '%s'\n", cmd, s);
        return -1;
    }
    p[0] = n == 3 ? v[0] : 1;
    p[1] = v[n - 2];
    p[2] = v[n - 1];
    return 0;
}

void ss_cli_list_models(FILE *f)
{
    fprintf(f, "models:\n");
    for (const ss_model_info *i = ss_model_list(); i->name; i++)
        fprintf(f, "  %-13s %d-D  %s\n", i->name, i->dims, i->about);
}

/* Model options shared by export and forward, collected in an ss_model_cfg
 * used as a set of overrides: name NULL, classes/in_ch/norm -1 and patch 0
 * mean "not given". */
ss_model_cfg ss_cli_model_unset(void)
{
    ss_model_cfg o;
    memset(&o, 0, sizeof o);
    o.classes = o.in_ch = o.norm = -1;
    return o;
}

/* Parses argv[*i] (and its value) into o. Returns 1 when consumed, 0 when not
 * a model option, -1 on a bad value (message printed). */
int ss_cli_model_opt(ss_model_cfg *o, const char *cmd, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    int known = !strcmp(a, "--model") || !strcmp(a, "--classes") || !strcmp(a, "--in-ch") ||
                !strcmp(a, "--patch") || !strcmp(a, "--norm");
    if (!known)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: %s needs a value (see --help)\n", cmd, a);
        return -1;
    }
    const char *v = argv[++*i];
    if (!strcmp(a, "--model")) {
        o->name = v;
        return 1;
    }
    if (!strcmp(a, "--classes"))
        return parse_int(cmd, a, v, 1, &o->classes) ? -1 : 1;
    if (!strcmp(a, "--in-ch"))
        return parse_int(cmd, a, v, 1, &o->in_ch) ? -1 : 1;
    if (!strcmp(a, "--patch"))
        return parse_patch(cmd, v, o->patch) ? -1 : 1;
    for (int k = 0; k < 4; k++)
        if (!strcmp(v, NORMS[k])) {
            o->norm = k;
            return 1;
        }
    fprintf(stderr, "%s: --norm wants batch, none, instance or group, got '%s'\n", cmd, v);
    return -1;
}

/* The configuration for o (defaults for what it leaves out); NULL info with a
 * message when the model is unknown or missing. */
const ss_model_info *ss_cli_model_cfg(const ss_model_cfg *o, const char *cmd, ss_model_cfg *cfg)
{
    if (!o->name) {
        fprintf(stderr, "%s: --model is required\n", cmd);
        ss_cli_list_models(stderr);
        return NULL;
    }
    const ss_model_info *info = ss_model_find(o->name);
    if (!info) {
        fprintf(stderr, "%s: unknown model '%s'\n", cmd, o->name);
        ss_cli_list_models(stderr);
        return NULL;
    }
    *cfg = ss_model_defaults(o->name);
    if (o->classes > 0)
        cfg->classes = o->classes;
    if (o->in_ch > 0)
        cfg->in_ch = o->in_ch;
    if (o->norm >= 0)
        cfg->norm = o->norm;
    if (o->patch[0]) {
        if (info->dims == 2 && o->patch[0] != 1) {
            fprintf(stderr, "%s: %s is a 2-D model: --patch wants HxW (or 1xHxW)\n", cmd, o->name);
            return NULL;
        }
        memcpy(cfg->patch, o->patch, sizeof cfg->patch);
    }
    return info;
}

/* Input channels the model's graph input has for cfg: in_ch, plus the signed
 * distance map channel of the SASSNet discriminator. */
int ss_cli_input_channels(const ss_model_cfg *cfg)
{
    return cfg->in_ch + (cfg->name && !strcmp(cfg->name, "sassnet_disc"));
}

const char *ss_cli_norm_name(int norm) { return norm >= 0 && norm < 4 ? NORMS[norm] : "?"; }

int ss_cli_weights_readable(const char *cmd, const char *path)
{
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "%s: weights file %s does not exist or cannot be read\n", cmd, path);
        return -1;
    }
    return 0;
}

void ss_cli_dirname(const char *path, char *dir, size_t size)
{
    snprintf(dir, size, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = '\0';
    else
        snprintf(dir, size, ".");
}
