/* PLACEHOLDER: V-Net family builders (being written). */
#include "model.h"
#include "kernels/error.h"
#define TODO(n) int n(ss_nn *m, const ss_model_cfg *c, int x, ss_model_out *o) { (void)m; (void)c; (void)x; (void)o; return ss_seterr(#n ": not implemented"); }
TODO(ss_build_vnet)
TODO(ss_build_vnet_sdf)
TODO(ss_build_mcnet3d_v1)
TODO(ss_build_mcnet3d_v2)
TODO(ss_build_fbanet3d)
TODO(ss_build_sassnet_disc)
