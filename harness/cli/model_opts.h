/* Model options shared by `semiseg export`, `forward` and `eval`: --model,
 * --classes, --in-ch, --patch, --norm parsed into an ss_model_cfg; the
 * checks on a --weights file. */
#ifndef SS_CLI_MODEL_OPTS_H
#define SS_CLI_MODEL_OPTS_H

#include "harness/nn/model.h"

#include <stdio.h>

/* A cfg with every option unset (defaults are filled by ss_cli_model_cfg). */
ss_model_cfg ss_cli_model_unset(void);
/* Parses argv[*i] (and its value) into o: 1 consumed, 0 not a model option,
 * -1 bad value (message printed). */
int ss_cli_model_opt(ss_model_cfg *o, const char *cmd, int argc, char **argv, int *i);
/* The full configuration for o; NULL (message printed) for an unknown model. */
const ss_model_info *ss_cli_model_cfg(const ss_model_cfg *o, const char *cmd, ss_model_cfg *cfg);
const char *ss_cli_norm_name(int norm);
/* Channels of the model's graph input (the SASSNet discriminator adds its SDM channel). */
int ss_cli_input_channels(const ss_model_cfg *cfg);
void ss_cli_list_models(FILE *f);
/* 0 when the weights file can be read; -1 with a message on stderr otherwise. */
int ss_cli_weights_readable(const char *cmd, const char *path);
/* The folder part of PATH ("." when it has none, "/" for a file in the root). */
void ss_cli_dirname(const char *path, char *dir, size_t size);

#endif
