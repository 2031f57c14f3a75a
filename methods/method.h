/* Method plugins: the registry of every method (methods/) and baseline
 * (baselines/) and the protocol spec texts the CLI layers under them. The
 * plugin interface itself (ss_method, ss_train_ctx) is harness/train.h.
 * Layer: includes harness/ only. */
#ifndef SS_METHOD_H
#define SS_METHOD_H

#include "harness/train.h"

/* The registered plugin NAME, or NULL with an error listing the names. */
const ss_method *ss_method_find(const char *name);
/* Every registered plugin, NULL-terminated. */
const ss_method *const *ss_method_list(void);

/* Protocol defaults (INI text, profile "paper") for a real dataset name ("la",
 * "pancreas", "acdc", "kvasir", "brats"): optimizer, schedule, iterations,
 * batch and labeled_bs, model, evaluation cadence, as the protocol documents
 * give them for the Table-1 recipe. NULL with an error when unknown. Patch,
 * strides and the selection split come from the dataset's own info. */
const char *ss_protocol_text(const char *real_dataset);
/* Profile overlay: "paper" (empty: the protocol exactly) or "smoke" (tiny
 * iterations, patches and evaluation cadence; sections tagged by dimensionality
 * and dataset name). NULL with an error for another profile. */
const char *ss_profile_text(const char *profile);

/* The dataset facts the spec starts from (copied from its ss_dataset_info). */
typedef struct ss_spec_base {
    const char *name, *real;  /* "synth-la", "la" */
    int dims;
    int patch[3], stride[3];  /* (D,H,W); stride unused for 2-D */
    const char *select_split; /* "val" / "test" */
} ss_spec_base;

/* Resolves the spec of METHOD on a dataset, lowest layer first:
 *   dataset info (patch, strides, selection split)
 *   < protocol text of base->real
 *   < recipe of method.compare_with (another plugin's defaults without its
 *     [method] section; "protocol" or the method itself: none)
 *   < METHOD's defaults (declaring its [method] keys)
 *   < profile < each --set assignment in order.
 * Sections tagged "2d"/"3d" and with the dataset name apply. */
int ss_method_resolve_spec(const ss_method *m, const ss_spec_base *base, const char *profile,
                           int nsets, const char *const *sets, ss_spec **out);

#endif
