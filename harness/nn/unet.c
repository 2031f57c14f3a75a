/* PLACEHOLDER: 2-D U-Net family builders (being written). */
#include "model.h"
#include "kernels/error.h"
#define TODO(n) int n(ss_nn *m, const ss_model_cfg *c, int x, ss_model_out *o) { (void)m; (void)c; (void)x; (void)o; return ss_seterr(#n ": not implemented"); }
TODO(ss_build_unet)
TODO(ss_build_unet_deconv)
TODO(ss_build_mcnet2d_v1)
TODO(ss_build_mcnet2d_v2)
TODO(ss_build_fbanet2d)
