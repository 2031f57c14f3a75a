/* The plugin registry: one line per plugin in SS_PLUGINS (the plugin's file
 * defines `const ss_method ss_method_<name>`). */
#include "method.h"

#include "kernels/error.h"

#include <stdio.h>
#include <string.h>

#define SS_PLUGINS(X) \
    X(supervised) \
    X(mcnet) \
    X(mcnet_plus) \
    X(fbanet)

#define SS_DECLARE_PLUGIN(n) extern const ss_method ss_method_##n;
SS_PLUGINS(SS_DECLARE_PLUGIN)
#define SS_LIST_PLUGIN(n) &ss_method_##n,
static const ss_method *const g_methods[] = {SS_PLUGINS(SS_LIST_PLUGIN) NULL};

const ss_method *const *ss_method_list(void) { return g_methods; }

const ss_method *ss_method_find(const char *name)
{
    char names[512] = "";
    size_t o = 0;
    for (int i = 0; g_methods[i]; i++) {
        if (!strcmp(g_methods[i]->name, name))
            return g_methods[i];
        o += (size_t)snprintf(names + o, o < sizeof names ? sizeof names - o : 0, "%s%s",
                              i ? ", " : "", g_methods[i]->name);
    }
    ss_seterr("unknown method '%s' (registered: %s)", name, names);
    return NULL;
}
