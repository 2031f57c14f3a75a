/* Layers as graph builders. A builder creates its parameters under PyTorch
 * state_dict names ("block_one.conv.0.weight"), records how PyTorch would
 * initialise them and the PyTorch shape each has (a 2-D conv weight is
 * (Co, Ci, kH, kW) there, (Co, Ci, 1, kH, kW) here), so weights round-trip by
 * name. One ss_nn describes one graph; train = 1 builds batch-statistics BN and
 * active dropout, train = 0 the eval form. */
#ifndef SS_NN_H
#define SS_NN_H

#include "harness/graph.h"

typedef enum ss_norm {
    SS_NORM_NONE = 0,
    SS_NORM_BATCH,
    SS_NORM_INSTANCE, /* PyTorch InstanceNorm, affine off */
    SS_NORM_GROUP,    /* 16 groups, affine */
} ss_norm;

/* One entry of the state dict: a parameter or buffer and its PyTorch shape. */
typedef struct ss_nn_entry {
    int t;           /* graph tensor (its name is the state_dict key) */
    int rank;        /* PyTorch rank */
    int shape[5];    /* PyTorch shape */
    int is_param;
    int init;        /* 0 uniform(-bound, bound), 1 constant value */
    float bound, value;
} ss_nn_entry;

typedef struct ss_nn {
    ss_graph *g;
    int train;
    uint64_t seed;
    uint32_t next_stream; /* dropout streams, one per dropout layer */
    ss_nn_entry *e;
    int n, cap;
    char (*bn)[96]; /* BN module prefixes (their num_batches_tracked keys) */
    int nbn, capbn;
} ss_nn;

void nn_begin(ss_nn *m, ss_graph *g, int train, uint64_t seed);
void nn_end(ss_nn *m);

/* Spatial triples are (D, H, W); 2-D layers pass D extent 1 and set dims2 = 1
 * so that the PyTorch shapes drop the D axis. */
int nn_conv(ss_nn *m, const char *name, int x, int cin, int cout, const int k[3], const int s[3],
            const int p[3], int bias, int dims2);
int nn_deconv(ss_nn *m, const char *name, int x, int cin, int cout, const int k[3],
              const int s[3], const int p[3], int bias, int dims2);
int nn_bn(ss_nn *m, const char *name, int x, int c);
/* The norm layer of kind `norm` named `name` (identity for SS_NORM_NONE). */
int nn_norm(ss_nn *m, int norm, const char *name, int x, int c);
int nn_linear(ss_nn *m, const char *name, int x, int fin, int fout, int bias);
/* Dropout (channel = Dropout3d/2d) with its own RNG stream; identity in eval. */
int nn_dropout(ss_nn *m, int x, float p, int channel);

/* After graph_plan: fills every recorded tensor as PyTorch's default init
 * would (kaiming-uniform a = sqrt(5): bound 1/sqrt(fan_in) for weights and
 * biases; BN weight 1, bias 0, running mean 0, var 1), drawn from Philox with
 * (seed, stream = entry index). */
int nn_init_params(ss_nn *m);
/* Trainable parameter count (elements). */
long long nn_param_count(const ss_nn *m);
/* Looks up a state_dict key (-1 when absent). */
int nn_find(const ss_nn *m, const char *key);

/* snprintf into a rotating static buffer (names while building). */
const char *nn_name(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
