/* A backend is a table of functions; the graph knows only this table.
 * Memory is handed out as arenas (one allocation each); tensors live at byte
 * offsets inside them. Pointers handed to kernels are backend pointers. */
#ifndef SS_BACKEND_H
#define SS_BACKEND_H

#include "op.h"

#include <stddef.h>

typedef struct ss_backend {
    const char *name;
    int is_host; /* arena memory is directly addressable by the CPU */
    int (*alloc_arena)(size_t bytes, void **mem);
    void (*free_arena)(void *mem);
    int (*upload)(void *dst, const float *src, size_t n);   /* n floats host -> backend */
    int (*download)(float *dst, const void *src, size_t n); /* n floats backend -> host */
    int (*fill)(void *dst, float v, size_t n);
    int (*sync)(void);
    /* Runs one op call (forward when bwd == 0). ref != 0 forces the plain
     * reference kernels. */
    int (*run)(const ss_op_args *a, int bwd, int ref);
    double (*now)(void); /* seconds, monotonic, after sync */
    /* Optional (NULL: not provided). Bracket one graph node: begin opens a
     * profiler range named label (NVTX on CUDA) and, when timed, starts a
     * device timer; end closes the range and returns the node's device
     * seconds when timed (waiting for it), else 0. A negative return is an
     * error (message in semiseg_error()). */
    void (*node_begin)(const char *label, int timed);
    double (*node_end)(int timed);
} ss_backend;

const ss_backend *ss_backend_cpu(void);
/* The CUDA backend when compiled in and a device is present, else NULL
 * (with a reason in semiseg_error()). */
const ss_backend *ss_backend_cuda(void);
/* CUDA when usable, else the CPU backend; logs one line to stderr saying which
 * and why the first time it falls back. SS_BACKEND=cpu in the environment
 * selects the CPU backend. */
const ss_backend *ss_backend_default(void);

#endif
