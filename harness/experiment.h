/* Experiment specs: INI text (inih) resolved in layers, later layers win:
 *   dataset protocol defaults < method defaults < profile < table overrides
 *   < command line (--set section.key=value)
 * Every key is "section.key". The known keys are the core keys declared by
 * ss_spec_new() (data.*, model.*, train.*, eval.*, see experiment.c) plus the
 * keys a method declares in the [method] section of its defaults layer
 * (SS_SPEC_DECLARE); any other key is an error naming the key and the layer
 * it came from. A section may carry a tag, "[train:2d]" or "[data:la]": it
 * applies only when that tag was given to ss_spec_set_tags(), and is skipped
 * otherwise. The resolved spec is written back as INI with the origin of
 * every value. */
#ifndef SS_EXPERIMENT_H
#define SS_EXPERIMENT_H

typedef struct ss_spec ss_spec;

enum ss_spec_flags {
    SS_SPEC_DECLARE = 1,     /* keys of this layer's [method] section become known */
    SS_SPEC_NO_METHOD = 2,   /* skip this layer's [method] section (a recipe borrowed
                              * from another method: its train/data/eval only) */
};

ss_spec *ss_spec_new(void);
void ss_spec_free(ss_spec *s);

/* Tags that select tagged sections (up to 8, e.g. "3d", "la"). */
int ss_spec_set_tags(ss_spec *s, int n, const char *const *tags);

/* Declares an extra known key ("method.T"). */
int ss_spec_declare(ss_spec *s, const char *key);
int ss_spec_known(const ss_spec *s, const char *key);

/* Applies an INI text as one layer named ORIGIN ("protocol la", "method
 * mcnet", "--set", a file path). Errors name the origin and the line. */
int ss_spec_layer(ss_spec *s, const char *text, const char *origin, int flags);
/* Applies one "section.key=value" assignment. */
int ss_spec_assign(ss_spec *s, const char *assignment, const char *origin);
/* Sets one known key directly. */
int ss_spec_set(ss_spec *s, const char *key, const char *value, const char *origin);

/* Value / origin of a key (NULL when unset or unknown). */
const char *ss_spec_get(const ss_spec *s, const char *key);
const char *ss_spec_origin(const ss_spec *s, const char *key);

/* Typed getters: the key must be set and parse completely; errors name the
 * key, its value and the layer it came from. The _or forms return dflt when
 * the key is unset. */
int ss_spec_str(const ss_spec *s, const char *key, const char **out);
int ss_spec_long(const ss_spec *s, const char *key, long *out);
int ss_spec_int(const ss_spec *s, const char *key, int *out);
int ss_spec_double(const ss_spec *s, const char *key, double *out);
/* Three integers "a,b,c" (or "a b c"). */
int ss_spec_int3(const ss_spec *s, const char *key, int out[3]);
int ss_spec_long_or(const ss_spec *s, const char *key, long dflt, long *out);
int ss_spec_double_or(const ss_spec *s, const char *key, double dflt, double *out);

/* The resolved spec as INI text (malloc'd): every set key under its section,
 * "; <origin>" after each value. */
char *ss_spec_text(const ss_spec *s);
/* Writes ss_spec_text to "<path>.tmp" and renames it to path. */
int ss_spec_write(const ss_spec *s, const char *path);

#endif
