/* Backend selection (CUDA when compiled in and a device answers, else CPU) and
 * the CUDA settings of kernels/cuda/ss_cuda.h, kept here so that they exist in
 * every build. */
#include "backend.h"
#include "cuda/ss_cuda.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#ifndef SS_HAVE_CUDA
const ss_backend *ss_backend_cuda(void)
{
    ss_seterr("this build has no CUDA backend (built with CUDA=0 or without nvcc/cuDNN)");
    return NULL;
}
#endif

/* SS_BACKEND=cpu forces the CPU backend (e.g. to compare runs on a GPU host). */
const ss_backend *ss_backend_default(void)
{
    static int logged;
    const char *force = getenv("SS_BACKEND");
    if (force && strcasecmp(force, "cpu") == 0)
        return ss_backend_cpu();
    const ss_backend *b = ss_backend_cuda();
    if (b)
        return b;
    if (!logged) {
        logged = 1;
        fprintf(stderr, "semiseg: using the CPU backend (%s)\n", semiseg_error());
    }
    return ss_backend_cpu();
}

/* ---- CUDA settings ------------------------------------------------------- */

static ss_precision g_prec = SS_PREC_FP32;
static int g_determ;
static size_t g_ws_limit = (size_t)512 << 20;
static FILE *g_algo_log;

static const char *const g_prec_names[] = {"fp32", "tf32", "bf16"};

int ss_precision_parse(const char *s, ss_precision *out)
{
    for (int i = 0; i < 3; i++)
        if (s && strcasecmp(s, g_prec_names[i]) == 0) {
            *out = (ss_precision)i;
            return SS_OK;
        }
    return ss_seterr("precision '%s' is not one of fp32, tf32, bf16", s ? s : "(null)");
}

const char *ss_precision_name(ss_precision p)
{
    return (int)p >= 0 && (int)p < 3 ? g_prec_names[p] : "invalid";
}

int ss_cuda_set_precision(ss_precision p)
{
    if ((int)p < 0 || (int)p > 2)
        return ss_seterr("ss_cuda_set_precision: invalid precision %d (0 fp32, 1 tf32, 2 bf16)",
                         (int)p);
    g_prec = p;
    return SS_OK;
}

ss_precision ss_cuda_precision(void) { return g_prec; }
void ss_cuda_set_deterministic(int on) { g_determ = on != 0; }
int ss_cuda_deterministic(void) { return g_determ; }

int ss_cuda_set_workspace_limit(size_t bytes)
{
    if (bytes < ((size_t)1 << 20))
        return ss_seterr("CUDA workspace limit %zu bytes is below the minimum of 1 MiB", bytes);
    g_ws_limit = bytes;
    return SS_OK;
}

size_t ss_cuda_workspace_limit(void) { return g_ws_limit; }
void ss_cuda_set_algo_log(FILE *f) { g_algo_log = f; }
FILE *ss_cuda_algo_log(void) { return g_algo_log; }

int ss_cuda_config_from_env(void)
{
    const char *v = getenv("SS_CUDA_PRECISION");
    if (v && *v) {
        ss_precision p;
        if (ss_precision_parse(v, &p) != SS_OK)
            return ss_seterr("SS_CUDA_PRECISION: '%s' is not one of fp32, tf32, bf16", v);
        g_prec = p;
    }
    v = getenv("SS_CUDA_DETERMINISTIC");
    if (v && *v) {
        if ((v[0] != '0' && v[0] != '1') || v[1])
            return ss_seterr("SS_CUDA_DETERMINISTIC: '%s' must be 0 or 1", v);
        g_determ = v[0] == '1';
    }
    v = getenv("SS_CUDA_WS_MB");
    if (v && *v) {
        char *end;
        long mb = strtol(v, &end, 10);
        if (*end || mb < 1 || mb > (1L << 20))
            return ss_seterr("SS_CUDA_WS_MB: '%s' must be an integer number of MiB in 1..1048576",
                             v);
        g_ws_limit = (size_t)mb << 20;
    }
    v = getenv("SS_CUDA_LOG_ALGO");
    if (v && *v) {
        if ((v[0] != '0' && v[0] != '1') || v[1])
            return ss_seterr("SS_CUDA_LOG_ALGO: '%s' must be 0 or 1", v);
        g_algo_log = v[0] == '1' ? stderr : NULL;
    }
    return SS_OK;
}
