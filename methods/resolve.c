/* Spec resolution for a method on a dataset (see method.h). */
#include "method.h"

#include "kernels/error.h"

#include <stdio.h>
#include <string.h>

static void info_layer(const ss_spec_base *b, char *buf, size_t n)
{
    snprintf(buf, n, "[data]\npatch = %d,%d,%d\n[eval]\nsplit = %s\n", b->patch[0], b->patch[1],
             b->patch[2], b->select_split);
    if (b->dims == 3) {
        size_t o = strlen(buf);
        snprintf(buf + o, n - o, "stride = %d,%d,%d\n", b->stride[0], b->stride[1], b->stride[2]);
    }
}

int ss_method_resolve_spec(const ss_method *m, const ss_spec_base *base, const char *profile,
                           int nsets, const char *const *sets, ss_spec **out)
{
    *out = NULL;
    char info[512], origin[160], recipe[64] = "";
    info_layer(base, info, sizeof info);
    const char *proto = ss_protocol_text(base->real), *prof = ss_profile_text(profile);
    if (!proto || !prof)
        return SS_ERR;
    const char *tags[2] = {base->dims == 3 ? "3d" : "2d", base->name};
    for (int pass = 0; pass < 2; pass++) {
        ss_spec *s = ss_spec_new();
        if (!s || ss_spec_set_tags(s, 2, tags) || ss_spec_layer(s, info, "dataset info", 0) ||
            ss_spec_layer(s, proto, "protocol", 0))
            goto bad;
        if (recipe[0]) {
            const ss_method *r = ss_method_find(recipe);
            if (!r) {
                ss_seterr("method.compare_with = '%s': %s", recipe, semiseg_error());
                goto bad;
            }
            snprintf(origin, sizeof origin, "recipe of %s", recipe);
            if (ss_spec_layer(s, r->defaults, origin, SS_SPEC_NO_METHOD))
                goto bad;
        }
        snprintf(origin, sizeof origin, "method %s", m->name);
        if (ss_spec_layer(s, m->defaults, origin, SS_SPEC_DECLARE))
            goto bad;
        snprintf(origin, sizeof origin, "profile %s", profile);
        if (ss_spec_layer(s, prof, origin, 0))
            goto bad;
        for (int i = 0; i < nsets; i++)
            if (ss_spec_assign(s, sets[i], "--set"))
                goto bad;
        const char *cw = ss_spec_get(s, "method.compare_with");
        if (pass == 0 && cw && strcmp(cw, "protocol") && strcmp(cw, m->name)) {
            snprintf(recipe, sizeof recipe, "%s", cw);
            ss_spec_free(s);
            continue;
        }
        *out = s;
        return SS_OK;
    bad:
        ss_spec_free(s);
        return SS_ERR;
    }
    return SS_ERR;
}
